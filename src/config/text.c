#include "sluice/base.h"

#include "text.h"

#define MAX_CMP 64

size_t sl__edit_distance(struct sl_str a, struct sl_str b, size_t max)
{
    size_t row[MAX_CMP + 1];
    SL_ASSERT(max < MAX_CMP);
    if (a.len > MAX_CMP || b.len > MAX_CMP || (a.len > b.len ? a.len - b.len : b.len - a.len) > max)
        return max + 1;
    for (size_t j = 0; j <= b.len; j++)
        row[j] = j;
    for (size_t i = 1; i <= a.len; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.len; j++) {
            size_t up = row[j];
            size_t sub = diag + (a.ptr[i - 1] != b.ptr[j - 1]);
            row[j] = SL_MIN(SL_MIN(up + 1, row[j - 1] + 1), sub);
            diag = up;
        }
    }
    return SL_MIN(row[b.len], max + 1);
}
