// hello is stagecraft's Go multi-stage example: one static binary, built in
// golang:bookworm and shipped alone in busybox.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	who := "multi-stage"
	if len(os.Args) > 1 {
		who = strings.Join(os.Args[1:], " ")
	}
	fmt.Printf("hello, %s (built with %s for %s/%s, uid %d)\n", who, runtime.Version(), runtime.GOOS, runtime.GOARCH, os.Getuid())
}
