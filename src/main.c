/* siftd entry point: replaced by the foundation work (issue 2). */
#include <stdio.h>

int
main(void)
{
    puts("siftd " SIFT_VERSION);
    return 0;
}
