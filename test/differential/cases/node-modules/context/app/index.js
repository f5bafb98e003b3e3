console.log(require('left-pad')('x', 3), require('is-even')(2));
