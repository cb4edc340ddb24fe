/*
 * server.h — duetd's process-wide state and its connections.
 *
 * Concurrency model: one listener thread accepts connections and starts one
 * detached-by-join thread per connection (conn.c); each connection reads a
 * frame, runs the command to completion and writes the reply, so a slow client
 * only ever holds its own thread.  Shared state (cursors, sessions, clock, log,
 * counters) is guarded by its own mutex or updated atomically.  A reaper thread
 * closes idle cursors and sessions once a second.
 *
 * Shutdown (SIGINT/SIGTERM → duet_server_request_stop): the listener stops
 * accepting, every connection's socket is shut down for reading so a thread
 * blocked in recv() wakes, a thread in the middle of a command finishes it and
 * writes its reply, then all threads are joined.
 */
#ifndef DUET_SERVER_SERVER_H
#define DUET_SERVER_SERVER_H

#include "server/cursor.h"
#include "server/log.h"
#include "server/lsid.h"
#include "server/wire.h"

#include <duet/error.h>
#include <duet/store.h>

#include <bson/bson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DUET_SERVER_DEFAULT_PORT 27017
#define DUET_SERVER_DEFAULT_BIND "127.0.0.1"
#define DUET_SERVER_DEFAULT_REPL_SET "rs0"
#define DUET_SERVER_DEFAULT_SLOW_MS 100
#define DUET_SERVER_MAX_WIRE_VERSION 21
#define DUET_SERVER_MONGODB_VERSION "7.0.0"
#define DUET_SERVER_VERSION "0.1.0" /* duet's own version; keep equal to project() in CMakeLists.txt */

/* Command-line options; strings are owned (duet_server_options_destroy). */
typedef struct duet_server_options {
   char *dbpath;                /* data directory, created if missing */
   char *bind;                  /* comma-separated addresses to listen on */
   int port;                    /* TCP port; 0 picks a free one */
   char *repl_set;              /* replica-set name presented by hello */
   char *log_path;              /* log file, NULL for stderr */
   duet_log_level_t log_level;
   int64_t slow_ms;             /* operations at least this slow are logged */
   int64_t cursor_timeout_ms;   /* idle cursors are closed after this */
} duet_server_options_t;

void duet_server_options_init(duet_server_options_t *options);
void duet_server_options_destroy(duet_server_options_t *options);

/* The cluster time duetd reports (operationTime, $clusterTime, hello lastWrite): the
 * newest cluster time the store has written; the store stamps every write. */
typedef struct duet_clock {
   pthread_mutex_t lock;
   uint32_t seconds;
   uint32_t increment;
} duet_clock_t;

typedef struct duet_conn duet_conn_t;

#define DUET_SERVER_MAX_LISTENERS 8
#define DUET_SERVER_POOL_SIZE 64 /* idle store sessions kept for reuse */

typedef struct duet_server {
   duet_server_options_t *options; /* borrowed; lives as long as the server */
   duet_log_t *log;                /* borrowed */
   duet_cursor_registry_t cursors;
   duet_lsid_registry_t sessions;
   duet_clock_t clock;
   duet_store_t *store;      /* owned; opened by duet_server_listen (NULL in the fuzzer) */
   pthread_mutex_t pool_lock;
   duet_session_t *pool[DUET_SERVER_POOL_SIZE]; /* idle store sessions, guarded by pool_lock */
   int pool_count;
   bson_oid_t election_id;   /* fixed for the life of the process */
   int64_t start_time_ms;    /* wall clock, ms since the epoch */
   int64_t start_mono_us;    /* monotonic, for uptime */
   char host_name[256];

   int listen_fds[DUET_SERVER_MAX_LISTENERS];
   int listen_count;
   int bound_port;           /* the port actually bound */
   int wake_pipe[2];         /* written by request_stop (async-signal-safe) */
   volatile int stopping;    /* set once shutdown begins */

   pthread_mutex_t conns_lock;
   duet_conn_t *conns;       /* open connections, guarded by conns_lock */
   pthread_cond_t conns_cond; /* signalled (with conns_lock) when a connection ends */
   pthread_t reaper;
   bool reaper_started;
   pthread_mutex_t reaper_lock;
   pthread_cond_t reaper_cond;

   /* counters, updated with __atomic builtins */
   int64_t next_connection_id;
   int64_t connections_current, connections_total;
   int64_t bytes_in, bytes_out, requests;
   int64_t op_command, op_query, op_insert, op_update, op_delete, op_getmore;
   int32_t next_reply_id;
} duet_server_t;

/* Per-connection state.  Only conn.c changes it, except `next` (conns_lock). */
struct duet_conn {
   duet_server_t *server;  /* borrowed */
   int fd;                 /* the socket; -1 when not a real socket (fuzzing) */
   int64_t id;             /* connectionId in hello, "conn<id>" in the log */
   char remote[64];        /* "host:port" of the client (whatsmyuri) */
   char local[64];         /* "host:port" the client connected to (hello hosts/me) */
   char ctx[32];           /* log context, "conn<id>" */
   bool handshake_done;    /* the client metadata document was received */
   bool closing;           /* stop after the current reply */
   uint8_t *reply_buffer;  /* owned: replies are built here and sent from here, reused from one
                            * request to the next (a getMore of 16 MiB grows it once, not every
                            * batch); freed by duet_conn_release_buffer when idle or at the end */
   size_t reply_capacity;
   pthread_t thread;
   duet_conn_t *next;      /* server->conns list */
};

/*
 * Sets up everything but sockets (usable by tests and the fuzzer).  `options`
 * and `log` are borrowed and must outlive the server.
 */
void duet_server_init(duet_server_t *server, duet_server_options_t *options, duet_log_t *log);

/* Opens the listening sockets and the data directory. */
bool duet_server_listen(duet_server_t *server, duet_error_t *error);

/* Accepts connections until duet_server_request_stop, then shuts down cleanly. */
void duet_server_run(duet_server_t *server);

/* Async-signal-safe: asks duet_server_run to stop. */
void duet_server_request_stop(duet_server_t *server);

void duet_server_destroy(duet_server_t *server);

/*
 * Handles one complete frame from `conn` (`length` bytes, header included).
 * On return `reply` holds the bytes to send (length 0: send nothing, e.g. for
 * moreToCome) and must be released with duet_wire_buffer_destroy; its body lies in
 * conn->reply_buffer (valid until the next frame of that connection) or, without a
 * connection, in its own allocation.  *close is
 * set when the connection must be closed after sending (unrecoverable input).
 */
void duet_server_handle_frame(duet_server_t *server, duet_conn_t *conn, const uint8_t *data, size_t length,
                              duet_wire_buffer_t *reply, bool *close);

/*
 * Store sessions for commands and cursors.  acquire: an idle pooled session or a
 * new one (each is its own SQLite connection, used by one thread at a time);
 * fails with 1 InternalError when the server has no store.  release: returns it
 * to the pool (closing it when the pool is full); NULL is a no-op.  A cursor
 * that reads the store keeps its session until the cursor is destroyed.
 */
bool duet_server_session_acquire(duet_server_t *server, duet_session_t **session, duet_error_t *error);
void duet_server_session_release(duet_server_t *server, duet_session_t *session);

/* Cluster clock: now reads the latest cluster time; (0, 0) before the first write. */
void duet_clock_init(duet_clock_t *clock);
void duet_clock_now(duet_clock_t *clock, uint32_t *seconds, uint32_t *increment);
/* Moves the clock forward to at least (seconds, increment) — a cluster time the store wrote. */
void duet_clock_advance(duet_clock_t *clock, uint32_t seconds, uint32_t increment);

#endif /* DUET_SERVER_SERVER_H */
