/* test_kafka_watch.c - the watch on failures retrying cannot fix
 * (cli_kafka.h), without a broker: nothing listening is a bounded wait naming
 * the servers, not an authentication failure; a TLS client meeting a server
 * that does not speak TLS records a TLS handshake failure at once, and the
 * record is process-wide. The SASL case needs a broker: kafka_secure.sh. */
#include "consumer/cli_kafka.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* A socket bound to a free port on 127.0.0.1; listening when `listen_too`. */
static int bound_socket(int *port, int listen_too)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    if (listen_too)
        assert_int_equal(listen(fd, 8), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static rd_kafka_t *producer(int port, const char *protocol)
{
    char brokers[64], errstr[512];
    snprintf(brokers, sizeof brokers, "127.0.0.1:%d", port);
    char *sets[] = {(char *)protocol, "reconnect.backoff.ms=100"};
    segstream_err err = {{0}};
    rd_kafka_conf_t *conf = segstream_cli_kafka_conf(brokers, NULL, sets, 2, &err);
    assert_non_null(conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    return rk;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void nothing_listening_is_a_bounded_wait(void **state)
{
    (void)state;
    int port;
    int fd = bound_socket(&port, 0); /* bound, not listening: connections are refused */
    rd_kafka_t *rk = producer(port, "security.protocol=plaintext");
    segstream_err err = {{0}};
    double t0 = now_s();
    assert_int_equal(segstream_kafka_wait_connected(rk, 1500, &err), -1);
    double took = now_s() - t0;
    assert_true(took >= 1.4 && took < 5);
    char want[96];
    snprintf(want, sizeof want, "kafka.bootstrap.servers = 127.0.0.1:%d: no broker answered within 1.5 s (", port);
    if (!strstr(err.message, want) || !strstr(err.message, "check the host names and ports"))
        fail_msg("%s", err.message);
    assert_int_equal(segstream_kafka_auth_check(&err), 0); /* refused is not an auth failure */
    rd_kafka_destroy(rk);
    close(fd);
}

/* Accepts connections and answers each ClientHello with bytes that are not
 * TLS. Answering only after the client spoke matters: bytes already waiting
 * when librdkafka starts TLS fail in its connect step, reported as a
 * transport error (as a real server never causes), not in the handshake. */
static void *not_tls_server(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 8; i++) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            break;
        char hello[512];
        static const char reply[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
        if (read(c, hello, sizeof hello) > 0 && write(c, reply, sizeof reply - 1) < 0)
            perror("write");
        close(c);
    }
    return NULL;
}

static void tls_failure_is_recorded_at_once(void **state)
{
    (void)state;
    int port;
    int fd = bound_socket(&port, 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, not_tls_server, &fd), 0);
    rd_kafka_t *rk = producer(port, "security.protocol=ssl");
    segstream_err err = {{0}};
    double t0 = now_s();
    assert_int_equal(segstream_kafka_wait_connected(rk, 20000, &err), -1);
    assert_true(now_s() - t0 < 10);
    assert_non_null(strstr(err.message, "kafka: TLS handshake failed (SSL, "));
    /* Recorded for the whole process: any thread's check sees it. */
    segstream_err again = {{0}};
    assert_int_equal(segstream_kafka_auth_check(&again), -1);
    assert_string_equal(again.message, err.message);
    rd_kafka_destroy(rk);
    shutdown(fd, SHUT_RDWR);
    close(fd);
    pthread_join(th, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_listening_is_a_bounded_wait), /* first: the record is process-wide */
        cmocka_unit_test(tls_failure_is_recorded_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
