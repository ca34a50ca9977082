/* Descriptor helpers of the relay link (see socketio_link.c for the whole
 * link): polls and whole writes bounded by a deadline, and the eventfd
 * wake-up of a waiter. Any thread; calls no other file of the link. */
#include "socketio_link_int.h"

/* See socketio_link_int.h. */
int socketio_link_ms_left(apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();

    if (left <= 0)
        return 0;
    return (int)((left + 999) / 1000);
}

/* See socketio_link_int.h. */
apr_status_t socketio_link_wait_fd(int fd, short events,
                                   apr_time_t deadline)
{
    struct pollfd pfd;
    int ms, n;

    for (;;) {
        ms = socketio_link_ms_left(deadline);
        if (ms == 0)
            return APR_TIMEUP;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, ms);
        if (n > 0)
            return APR_SUCCESS;
        if (n == 0)
            return APR_TIMEUP;
        if (errno != EINTR)
            return errno;
    }
}

/* See socketio_link_int.h. */
apr_status_t socketio_link_write_all(int fd, struct iovec *iov, int iovcnt,
                                     apr_time_t deadline)
{
    struct msghdr msg;
    ssize_t n;
    apr_status_t rv;

    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)iovcnt;
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            rv = socketio_link_wait_fd(fd, POLLOUT, deadline);
            if (rv != APR_SUCCESS)
                return rv;
            continue;
        }
        while (n > 0 && iovcnt > 0) {
            if ((size_t)n >= iov->iov_len) {
                n -= (ssize_t)iov->iov_len;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + n;
                iov->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return APR_SUCCESS;
}

/* See socketio_link_int.h. */
void socketio_waiter_wake(socketio_waiter *w)
{
    uint64_t one = 1;
    ssize_t n;

    if (w->wakefd < 0)
        return;
    do {
        n = write(w->wakefd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}
