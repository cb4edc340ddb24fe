/*
 * conn.h — serving one client connection on the calling thread (conn.c).
 */
#ifndef DUET_SERVER_CONN_H
#define DUET_SERVER_CONN_H

#include "server/server.h"

/*
 * Reads frames from conn->fd and answers them until the client disconnects,
 * sends a frame that cannot be framed (bad length, unknown opcode), or the
 * server stops.  The request being handled when the stop begins is finished
 * and answered first.  Does not close the socket.
 */
void duet_conn_serve(duet_conn_t *conn);

#endif /* DUET_SERVER_CONN_H */
