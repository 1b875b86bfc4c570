#include <stdio.h>

#include "sluice_version.h"

int main(void);

int main(void)
{
    printf("sluice %s\n", SL_VERSION);
    return 0;
}
