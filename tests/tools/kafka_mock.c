/*
 * kafka_mock - a Kafka broker for tests: librdkafka's mock cluster in a
 * process of its own.
 *
 *   kafka_mock [--brokers N] [--partitions N] [--topic T]...
 *
 * Creates a mock cluster of N brokers (default 1), creates each topic with
 * the given partition count (default 4, replication 1), prints the
 * bootstrap address ("127.0.0.1:port,...") as the first line of stdout,
 * flushes, and serves until SIGTERM/SIGINT, or until stdin reaches EOF
 * when stdin is a pipe (so a test that dies takes the broker with it).
 * The mock cluster implements produce, fetch, metadata, consumer groups
 * and offset commits, which is all kcat and the sift Kafka source use.
 *
 * Single-threaded main; the mock cluster runs on librdkafka's threads.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int sig_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a wakeup is already pending. */
    }
    errno = saved;
}

static int
parse_count(const char *s, int max, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: kafka_mock [--brokers N] [--partitions N] "
                    "[--topic T]...\n");
}

int
main(int argc, char **argv)
{
    char errstr[512];
    int n_brokers = 1, n_parts = 4, rc = 1;
    const char **topics = calloc((size_t)argc + 1, sizeof(*topics));
    int n_topics = 0, watch_stdin = 0;
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    struct stat st;
    struct sigaction sa;

    if (!topics)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            if (parse_count(argv[++i], 16, &n_brokers) < 0)
                goto bad;
        } else if (!strcmp(argv[i], "--partitions") && i + 1 < argc) {
            if (parse_count(argv[++i], 1000, &n_parts) < 0)
                goto bad;
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            topics[n_topics++] = argv[++i];
        } else {
            goto bad;
        }
    }

    if (pipe(sig_pipe) < 0) {
        perror("pipe");
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The mock cluster hangs off a (never used) producer handle. */
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        goto out;
    }
    mc = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        goto out;
    }
    for (int i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc, topics[i], n_parts, 1);
        if (err) {
            fprintf(stderr, "kafka_mock: topic %s: %s\n", topics[i],
                    rd_kafka_err2str(err));
            goto out;
        }
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    watch_stdin =
        fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
    for (;;) {
        struct pollfd pfd[2] = {{sig_pipe[0], POLLIN, 0}, {0, POLLIN, 0}};
        int n = poll(pfd, watch_stdin ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror("poll");
            goto out;
        }
        if (pfd[0].revents)
            break;
        if (watch_stdin && pfd[1].revents) {
            char buf[256];
            ssize_t r = read(0, buf, sizeof(buf));
            if (r <= 0 && !(r < 0 && errno == EINTR))
                break;
        }
    }
    rc = 0;
    goto out;
bad:
    usage();
    rc = 2;
out:
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    free(topics);
    return rc;
}
