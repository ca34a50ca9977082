/* siobench: CPU time of server processes, read from /proc so the parent
 * can say how much CPU the servers spent inside the measurement window
 * (--cpu NAME=PID: that process and every descendant, e.g. httpd's parent
 * and its children), and the report's CPU line and fields. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "siobench.h"

struct pstat {
    long pid, ppid;
    long long ticks;        /* utime + stime + cutime + cstime */
    int in;                 /* belongs to the tree being summed */
};

/* Reads /proc/<name>/stat into *p; returns 0, or -1 (gone, unreadable). */
static int read_stat(const char *name, struct pstat *p)
{
    char path[64], buf[1024], *s;
    unsigned long long ut, st;
    long long cut, cst;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/stat", name);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: skip to the last
     * ')'; then state, ppid, and utime..cstime as fields 14-17 */
    s = strrchr(buf, ')');
    if (!s)
        return -1;
    if (sscanf(s + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
               &p->ppid, &ut, &st, &cut, &cst) != 5)
        return -1;
    p->pid = strtol(name, NULL, 10);
    p->ticks = (long long)(ut + st) + cut + cst;
    p->in = 0;
    return 0;
}

/* Every process of the machine, or NULL; *n gets the count. */
static struct pstat *read_all(size_t *n)
{
    struct pstat *all = NULL, *nb;
    size_t cap = 0;
    struct dirent *e;
    DIR *d = opendir("/proc");

    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 512;
            nb = realloc(all, cap * sizeof(*all));
            if (!nb)
                break;
            all = nb;
        }
        if (read_stat(e->d_name, &all[*n]) == 0)
            (*n)++;
    }
    closedir(d);
    return all;
}

#define TREE_MAX 1024           /* processes summed per target */

/* 1 when pid is one of tree[0..n). */
static int in_tree(const long *tree, int n, long pid)
{
    int i;

    for (i = 0; i < n; i++)
        if (tree[i] == pid)
            return 1;
    return 0;
}

void sb_cpu_sample(const struct cfg *cfg, long long ticks[CPU_MAX])
{
    static long tree[TREE_MAX];
    struct pstat *all;
    size_t n, i;
    int t, nt, grew;

    for (t = 0; t < CPU_MAX; t++)
        ticks[t] = -1;
    all = read_all(&n);
    if (!all)
        return;
    for (t = 0; t < cfg->ncpu; t++) {
        nt = 0;
        for (i = 0; i < n; i++)
            all[i].in = 0;
        for (i = 0; i < n && nt == 0; i++) {
            if (all[i].pid == (long)cfg->cpu[t].pid) {
                all[i].in = 1;
                tree[nt++] = all[i].pid;
            }
        }
        /* descendants: a child of a process in the tree is in it (a few
         * passes: the trees are shallow) */
        do {
            grew = 0;
            for (i = 0; i < n && nt < TREE_MAX; i++) {
                if (!all[i].in && in_tree(tree, nt, all[i].ppid)) {
                    all[i].in = grew = 1;
                    tree[nt++] = all[i].pid;
                }
            }
        } while (grew && nt < TREE_MAX);
        for (i = 0; i < n; i++)
            if (all[i].in)
                ticks[t] = (ticks[t] < 0 ? 0 : ticks[t]) + all[i].ticks;
    }
    free(all);
}

double sb_cpu_ms(long long ticks)
{
    static long hz;

    if (!hz) {
        hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
            hz = 100;
    }
    return (double)ticks * 1000.0 / (double)hz;
}

double sb_cpu_delta_ms(const struct cpuwin *cw, int i)
{
    if (!cw->have_go || !cw->have_stop || cw->at_go[i] < 0 || cw->at_stop[i] < 0)
        return -1;
    return sb_cpu_ms(cw->at_stop[i] - cw->at_go[i]);
}

void sb_cpu_print(const struct cfg *cfg, const char *op, uint64_t ops,
                  const struct cpuwin *cw, int json)
{
    double ms;
    int i;

    if (!json) {
        printf("CPU in the window:");
        for (i = 0; i < cfg->ncpu; i++) {
            ms = sb_cpu_delta_ms(cw, i);
            if (ms < 0)
                printf(" %s gone", cfg->cpu[i].name);
            else if (op && ops)
                printf(" %s %.0f ms (%.1f us/%s)", cfg->cpu[i].name, ms,
                       ms * 1000.0 / (double)ops, op);
            else
                printf(" %s %.0f ms", cfg->cpu[i].name, ms);
            printf(i + 1 < cfg->ncpu ? ";" : "\n");
        }
        return;
    }
    printf("\"cpu_op\":\"%s\",\"cpu_ms\":{", op ? op : "");
    for (i = 0; i < cfg->ncpu; i++)
        printf("%s\"%s\":%.1f", i ? "," : "", cfg->cpu[i].name, sb_cpu_delta_ms(cw, i));
    printf("},\"cpu_us_per_op\":{");
    for (i = 0; i < cfg->ncpu; i++) {
        ms = sb_cpu_delta_ms(cw, i);
        printf("%s\"%s\":%.2f", i ? "," : "", cfg->cpu[i].name,
               ms >= 0 && ops ? ms * 1000.0 / (double)ops : -1.0);
    }
    printf("},");
}
