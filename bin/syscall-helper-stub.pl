# Started by bin/stagecraft, in the background, just before it execs node for a
# build: the first syscall helper (src/util/syscall-helper.ts), started where
# a fork is cheap. Node's own spawn of it blocks node for 10-14 ms on the build
# VM (fork of a large process), and Perl then takes as long again to start; a
# rebuild that runs one step waits for both. Here both overlap node's start-up.
#
# It listens on /run/stagecraft-helper/<pid>.sock, where only root can create
# files, for the one process it serves: its parent, whose pid it is given (the
# shell that forked it execs node and keeps the pid). Anybody else who connects
# is refused (SO_PEERCRED). The client sends `S <bytes> <syscall numbers>\n`
# and the helper's script; the script then serves the connection as it would a
# spawned helper's pipes. The stub exits when its parent does, whether or not
# it was used. No modules (their loading is most of Perl's start-up), so the
# socket constants are Linux's numbers.
exit if $> != 0;
$SIG{INT} = $SIG{QUIT} = $SIG{HUP} = 'IGNORE';    # as a spawned helper in its own process group
my $parent = $ARGV[0];
exit unless defined $parent && $parent =~ /^\d+$/ && getppid() == $parent;
$0 = "stagecraft-helper $parent";
my $dir = '/run/stagecraft-helper';
mkdir $dir, 0700;
my @st = lstat $dir;
exit unless @st && -d _ && $st[4] == 0 && ($st[2] & 07777) == 0700;
my $path = "$dir/$parent.sock";
unlink $path;
socket(my $srv, 1, 1, 0) or exit;    # AF_UNIX, SOCK_STREAM
bind($srv, pack('S', 1) . $path . "\0") or exit;
listen($srv, 4) or do { unlink $path; exit };
my $conn;
for (;;) {
  if (getppid() != $parent) { unlink $path; exit; }
  my $rin = '';
  vec($rin, fileno($srv), 1) = 1;
  next unless select(my $rout = $rin, undef, undef, 0.1) > 0;
  accept($conn, $srv) or next;
  my ($pid, $uid) = unpack('iI', getsockopt($conn, 1, 17) // '');    # SOL_SOCKET, SO_PEERCRED
  last if defined $pid && $pid == $parent && $uid == 0;
  close $conn;
}
unlink $path;
close $srv;
open(STDIN, '<&=', fileno($conn)) or exit;
open(STDOUT, '>&=', fileno($conn)) or exit;
binmode STDIN;
my $head = <STDIN>;
exit unless defined $head && $head =~ /^S (\d+)((?: \d+)*)\n\z/;
my $len = $1;
@ARGV = split ' ', $2;
my $script = '';
while (length($script) < $len) { read(STDIN, $script, $len - length($script), length($script)) or exit; }
eval $script;
