/*
 * server.c — duetd's process: listening sockets, the accept loop, one thread
 * per connection, the reaper of idle cursors and sessions, clean shutdown, and
 * the frame → command → reply path shared with the fuzz target.
 * See server.h for the concurrency model.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "server/server.h"

#include "server/command.h"
#include "server/conn.h"
#include "server/retry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- options and clock ------------------------------------------------------- */

void duet_server_options_init(duet_server_options_t *options)
{
   memset(options, 0, sizeof *options);
   options->bind = bson_strdup(DUET_SERVER_DEFAULT_BIND);
   options->port = DUET_SERVER_DEFAULT_PORT;
   options->repl_set = bson_strdup(DUET_SERVER_DEFAULT_REPL_SET);
   options->log_level = DUET_LOG_INFO;
   options->slow_ms = DUET_SERVER_DEFAULT_SLOW_MS;
   options->cursor_timeout_ms = DUET_CURSOR_DEFAULT_TIMEOUT_MS;
}

void duet_server_options_destroy(duet_server_options_t *options)
{
   bson_free(options->dbpath);
   bson_free(options->bind);
   bson_free(options->repl_set);
   bson_free(options->log_path);
   memset(options, 0, sizeof *options);
}

void duet_clock_init(duet_clock_t *clock)
{
   pthread_mutex_init(&clock->lock, NULL);
   clock->seconds = 0;
   clock->increment = 0;
}

void duet_clock_now(duet_clock_t *clock, uint32_t *seconds, uint32_t *increment)
{
   pthread_mutex_lock(&clock->lock);
   *seconds = clock->seconds;
   *increment = clock->increment;
   pthread_mutex_unlock(&clock->lock);
}

void duet_clock_advance(duet_clock_t *clock, uint32_t seconds, uint32_t increment)
{
   pthread_mutex_lock(&clock->lock);
   if (seconds > clock->seconds || (seconds == clock->seconds && increment > clock->increment)) {
      clock->seconds = seconds;
      clock->increment = increment;
   }
   pthread_mutex_unlock(&clock->lock);
}

/* ---- store sessions ---------------------------------------------------------------- */

bool duet_server_session_acquire(duet_server_t *server, duet_session_t **session, duet_error_t *error)
{
   *session = NULL;
   if (!server->store) {
      duet_error_set(error, DUET_ERR_INTERNAL, "duetd has no storage open");
      return false;
   }
   pthread_mutex_lock(&server->pool_lock);
   if (server->pool_count > 0) {
      *session = server->pool[--server->pool_count];
   }
   pthread_mutex_unlock(&server->pool_lock);
   if (*session) {
      return true;
   }
   return duet_session_open(server->store, session, error);
}

void duet_server_session_release(duet_server_t *server, duet_session_t *session)
{
   if (!session) {
      return;
   }
   duet_session_abort(session); /* never hand on an open transaction */
   pthread_mutex_lock(&server->pool_lock);
   if (server->pool_count < DUET_SERVER_POOL_SIZE) {
      server->pool[server->pool_count++] = session;
      session = NULL;
   }
   pthread_mutex_unlock(&server->pool_lock);
   duet_session_close(session); /* NULL: pooled */
}

/* ---- lifecycle ----------------------------------------------------------------- */

void duet_server_init(duet_server_t *server, duet_server_options_t *options, duet_log_t *log)
{
   memset(server, 0, sizeof *server);
   server->options = options;
   server->log = log;
   duet_cursor_registry_init(&server->cursors, options->cursor_timeout_ms);
   duet_lsid_registry_init(&server->sessions);
   duet_clock_init(&server->clock);
   bson_oid_init(&server->election_id, NULL);
   struct timeval now;
   gettimeofday(&now, NULL);
   server->start_time_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
   server->start_mono_us = duet_cursor_now_us();
   if (gethostname(server->host_name, sizeof server->host_name - 1) != 0) {
      snprintf(server->host_name, sizeof server->host_name, "localhost");
   }
   server->listen_count = 0;
   server->wake_pipe[0] = server->wake_pipe[1] = -1;
   pthread_mutex_init(&server->conns_lock, NULL);
   pthread_cond_init(&server->conns_cond, NULL);
   pthread_mutex_init(&server->pool_lock, NULL);
   pthread_mutex_init(&server->reaper_lock, NULL);
   pthread_cond_init(&server->reaper_cond, NULL);
}

void duet_server_destroy(duet_server_t *server)
{
   for (int i = 0; i < server->listen_count; i++) {
      close(server->listen_fds[i]);
   }
   server->listen_count = 0;
   if (server->wake_pipe[0] >= 0) {
      close(server->wake_pipe[0]);
      close(server->wake_pipe[1]);
   }
   duet_cursor_registry_destroy(&server->cursors); /* cursors hand their store sessions back first */
   duet_lsid_registry_destroy(&server->sessions);
   for (int i = 0; i < server->pool_count; i++) {
      duet_session_close(server->pool[i]);
   }
   server->pool_count = 0;
   pthread_mutex_destroy(&server->pool_lock);
   duet_store_close(server->store); /* the database closes cleanly */
   server->store = NULL;
   pthread_mutex_destroy(&server->clock.lock);
   pthread_mutex_destroy(&server->conns_lock);
   pthread_cond_destroy(&server->conns_cond);
   pthread_mutex_destroy(&server->reaper_lock);
   pthread_cond_destroy(&server->reaper_cond);
}

/* mkdir -p */
static bool server_make_directory(const char *path, duet_error_t *error)
{
   char *copy = bson_strdup(path);
   for (char *p = copy + 1; *p; p++) {
      if (*p == '/') {
         *p = '\0';
         if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            duet_error_set(error, DUET_ERR_INTERNAL, "cannot create directory %s: %s", copy, strerror(errno));
            bson_free(copy);
            return false;
         }
         *p = '/';
      }
   }
   bson_free(copy);
   if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      duet_error_set(error, DUET_ERR_INTERNAL, "cannot create directory %s: %s", path, strerror(errno));
      return false;
   }
   struct stat st;
   if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
      duet_error_set(error, DUET_ERR_INTERNAL, "--dbpath %s is not a directory", path);
      return false;
   }
   return true;
}

static bool server_listen_on(duet_server_t *server, const char *host, duet_error_t *error)
{
   char port_text[16];
   snprintf(port_text, sizeof port_text, "%d", server->bound_port ? server->bound_port : server->options->port);
   struct addrinfo hints, *addresses = NULL;
   memset(&hints, 0, sizeof hints);
   hints.ai_family = AF_UNSPEC;
   hints.ai_socktype = SOCK_STREAM;
   hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
   int rc = getaddrinfo(host, port_text, &hints, &addresses);
   if (rc != 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "cannot resolve --bind address %s: %s", host, gai_strerror(rc));
      return false;
   }
   bool bound = false;
   int last_errno = 0;
   for (struct addrinfo *a = addresses; a && server->listen_count < DUET_SERVER_MAX_LISTENERS; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
         last_errno = errno;
         continue;
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (a->ai_family == AF_INET6) {
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      }
      if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
         last_errno = errno;
         close(fd);
         continue;
      }
      if (!server->bound_port) {
         struct sockaddr_storage local;
         socklen_t local_length = sizeof local;
         getsockname(fd, (struct sockaddr *)&local, &local_length);
         server->bound_port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                                                : ((struct sockaddr_in *)&local)->sin_port);
      }
      server->listen_fds[server->listen_count++] = fd;
      bound = true;
      break; /* one socket per --bind address */
   }
   freeaddrinfo(addresses);
   if (!bound) {
      duet_error_set(error, DUET_ERR_INTERNAL, "cannot listen on %s:%s: %s", host, port_text, strerror(last_errno));
   }
   return bound;
}

bool duet_server_listen(duet_server_t *server, duet_error_t *error)
{
   if (!server_make_directory(server->options->dbpath, error)) {
      return false;
   }
   char lock_path[4096];
   snprintf(lock_path, sizeof lock_path, "%s/duetd.lock", server->options->dbpath);
   int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
   if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      duet_error_set(error, DUET_ERR_ILLEGAL_OPERATION, "cannot lock %s: another duetd is using this --dbpath (%s)",
                     lock_path, strerror(errno));
      if (lock_fd >= 0) {
         close(lock_fd);
      }
      return false;
   }
   /* the lock is held for the life of the process; the descriptor is never closed */
   if (!duet_store_open(server->options->dbpath, NULL, &server->store, error)) {
      duet_error_wrap(error, "cannot open the data directory %s", server->options->dbpath);
      return false;
   }
   duet_session_t *session = NULL;
   duet_store_ts_t latest = 0;
   if (duet_server_session_acquire(server, &session, error) &&
       duet_store_changelog_latest(session, &latest, error)) {
      /* cluster times continue after the last one written before a restart */
      duet_clock_advance(&server->clock, (uint32_t)(latest >> 32), (uint32_t)latest);
   }
   duet_server_session_release(server, session);
   if (error->code) {
      return false;
   }
   char *binds = bson_strdup(server->options->bind);
   char *save = NULL;
   for (char *host = strtok_r(binds, ",", &save); host; host = strtok_r(NULL, ",", &save)) {
      while (*host == ' ') {
         host++;
      }
      if (!server_listen_on(server, host, error)) {
         bson_free(binds);
         return false;
      }
   }
   bson_free(binds);
   if (server->listen_count == 0) {
      duet_error_set(error, DUET_ERR_BAD_VALUE, "no --bind address given");
      return false;
   }
   if (pipe2(server->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      duet_error_set(error, DUET_ERR_INTERNAL, "pipe: %s", strerror(errno));
      return false;
   }
   return true;
}

void duet_server_request_stop(duet_server_t *server)
{
   __atomic_store_n(&server->stopping, 1, __ATOMIC_RELEASE);
   if (server->wake_pipe[1] >= 0) {
      char byte = 1;
      ssize_t ignored = write(server->wake_pipe[1], &byte, 1);
      (void)ignored;
   }
}

/* ---- frames ------------------------------------------------------------------------ */

/*
 * A new empty reply: built in the connection's reusable buffer when there is a connection,
 * else in its own allocation.  Destroyed by server_reply_frame.
 */
static bson_t *server_reply_new(duet_conn_t *conn)
{
   if (!conn) {
      return bson_new();
   }
   if (conn->reply_buffer) {
      static const uint8_t empty[5] = {5, 0, 0, 0, 0};
      memcpy(conn->reply_buffer, empty, sizeof empty); /* bson_new_from_buffer reads what is there */
   }
   return bson_new_from_buffer(&conn->reply_buffer, &conn->reply_capacity, NULL, NULL);
}

/* Frames `body` (from server_reply_new, destroyed here) as the reply to `request`. */
static void server_reply_frame(duet_server_t *server, duet_conn_t *conn, const duet_wire_request_t *request,
                               bson_t *body, duet_wire_buffer_t *reply)
{
   int32_t id = __atomic_add_fetch(&server->next_reply_id, 1, __ATOMIC_RELAXED);
   uint32_t length = body->len;
   if (conn) {
      bson_destroy(body); /* the bytes stay in conn->reply_buffer (possibly moved by growth) */
      duet_wire_encode_reply(request, id, conn->reply_buffer, length, false, reply);
   } else {
      uint8_t *data = bson_destroy_with_steal(body, true, &length);
      duet_wire_encode_reply(request, id, data, length, true, reply);
   }
}

void duet_server_handle_frame(duet_server_t *server, duet_conn_t *conn, const uint8_t *data, size_t length,
                              duet_wire_buffer_t *reply, bool *close)
{
   *reply = (duet_wire_buffer_t)DUET_WIRE_BUFFER_INIT;
   *close = false;
   __atomic_add_fetch(&server->requests, 1, __ATOMIC_RELAXED);
   duet_wire_request_t request;
   duet_error_t error = DUET_ERROR_INIT;
   if (!duet_wire_decode(data, length, &request, &error)) {
      int32_t op = request.header.op_code;
      if (op != DUET_WIRE_OP_MSG && op != DUET_WIRE_OP_QUERY) {
         /* no reply format we could use: drop this client only */
         *close = true;
      } else if (!request.more_to_come) {
         bson_t *body = server_reply_new(conn);
         duet_reply_error(&error, body);
         duet_reply_append_cluster_time(server, body);
         server_reply_frame(server, conn, &request, body, reply);
      }
      if (conn) {
         bson_t attr = BSON_INITIALIZER;
         BSON_APPEND_UTF8(&attr, "remote", conn->remote);
         BSON_APPEND_INT32(&attr, "opCode", op);
         BSON_APPEND_INT32(&attr, "code", error.code);
         BSON_APPEND_UTF8(&attr, "error", error.message);
         duet_log_event(server->log, DUET_LOG_WARNING, "NETWORK", 22989, conn->ctx,
                        *close ? "Unsupported message, closing the connection" : "Malformed message", &attr, 0);
         bson_destroy(&attr);
      }
      duet_error_clear(&error);
      return;
   }
   bson_t *body = server_reply_new(conn);
   duet_command_dispatch(server, conn, &request.command, request.is_legacy_query, body);
   if (!request.more_to_come) {
      server_reply_frame(server, conn, &request, body, reply);
   } else {
      bson_destroy(body);
   }
   duet_wire_request_destroy(&request);
}

/* ---- connections ------------------------------------------------------------------ */

static void server_format_address(const struct sockaddr_storage *address, char *out, size_t out_size)
{
   char host[INET6_ADDRSTRLEN] = "?";
   int port = 0;
   if (address->ss_family == AF_INET) {
      const struct sockaddr_in *in = (const struct sockaddr_in *)address;
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      port = ntohs(in->sin_port);
      snprintf(out, out_size, "%s:%d", host, port);
   } else if (address->ss_family == AF_INET6) {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      port = ntohs(in6->sin6_port);
      snprintf(out, out_size, "[%s]:%d", host, port);
   } else {
      snprintf(out, out_size, "unknown");
   }
}

static void *server_conn_thread(void *arg)
{
   duet_conn_t *conn = arg;
   duet_server_t *server = conn->server;
   duet_conn_serve(conn);

   bson_t attr = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&attr, "remote", conn->remote);
   duet_log_event(server->log, DUET_LOG_DEBUG, "NETWORK", 22944, conn->ctx, "Connection ended", &attr, 0);
   bson_destroy(&attr);

   pthread_mutex_lock(&server->conns_lock);
   for (duet_conn_t **link = &server->conns; *link; link = &(*link)->next) {
      if (*link == conn) {
         *link = conn->next;
         break;
      }
   }
   close(conn->fd);
   __atomic_sub_fetch(&server->connections_current, 1, __ATOMIC_RELAXED);
   pthread_cond_broadcast(&server->conns_cond); /* shutdown waits for the list to drain */
   pthread_mutex_unlock(&server->conns_lock);
   bson_free(conn->reply_buffer);
   bson_free(conn);
   return NULL;
}

static void server_accept(duet_server_t *server, int listen_fd)
{
   struct sockaddr_storage remote;
   socklen_t remote_length = sizeof remote;
   int fd = accept4(listen_fd, (struct sockaddr *)&remote, &remote_length, SOCK_CLOEXEC);
   if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
         bson_t attr = BSON_INITIALIZER;
         BSON_APPEND_UTF8(&attr, "error", strerror(errno));
         duet_log_event(server->log, DUET_LOG_ERROR, "NETWORK", 23021, "listener", "accept failed", &attr, 0);
         bson_destroy(&attr);
         if (errno == EMFILE || errno == ENFILE) {
            usleep(100000); /* out of descriptors: back off instead of spinning */
         }
      }
      return;
   }
   int one = 1;
   setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   duet_conn_t *conn = bson_malloc0(sizeof *conn);
   conn->server = server;
   conn->fd = fd;
   conn->id = __atomic_add_fetch(&server->next_connection_id, 1, __ATOMIC_RELAXED);
   snprintf(conn->ctx, sizeof conn->ctx, "conn%lld", (long long)conn->id);
   server_format_address(&remote, conn->remote, sizeof conn->remote);
   struct sockaddr_storage local;
   socklen_t local_length = sizeof local;
   if (getsockname(fd, (struct sockaddr *)&local, &local_length) == 0) {
      server_format_address(&local, conn->local, sizeof conn->local);
   }

   char remote_text[sizeof conn->remote];
   memcpy(remote_text, conn->remote, sizeof remote_text);

   pthread_mutex_lock(&server->conns_lock);
   conn->next = server->conns;
   server->conns = conn;
   __atomic_add_fetch(&server->connections_current, 1, __ATOMIC_RELAXED);
   __atomic_add_fetch(&server->connections_total, 1, __ATOMIC_RELAXED);
   pthread_attr_t attr;
   pthread_attr_init(&attr);
   pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
   int rc = pthread_create(&conn->thread, &attr, server_conn_thread, conn);
   pthread_attr_destroy(&attr);
   if (rc != 0) {
      server->conns = conn->next;
      __atomic_sub_fetch(&server->connections_current, 1, __ATOMIC_RELAXED);
      pthread_mutex_unlock(&server->conns_lock);
      close(fd);
      bson_free(conn);
      duet_log_event(server->log, DUET_LOG_ERROR, "NETWORK", 23022, "listener", "cannot start a connection thread",
                     NULL, false);
      return;
   }
   pthread_mutex_unlock(&server->conns_lock);
   /* conn belongs to its thread now (it may already be freed): log from the copy */
   bson_t log_attr = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&log_attr, "remote", remote_text);
   duet_log_event(server->log, DUET_LOG_DEBUG, "NETWORK", 22943, "listener", "Connection accepted", &log_attr, 0);
   bson_destroy(&log_attr);
}

/* Closes idle cursors and expired sessions once a second, and drops old retryable-write records
 * once a minute, until shutdown. */
static void *server_reaper_thread(void *arg)
{
   duet_server_t *server = arg;
   int64_t next_retry_prune_us = 0;
   pthread_mutex_lock(&server->reaper_lock);
   while (!__atomic_load_n(&server->stopping, __ATOMIC_ACQUIRE)) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1;
      pthread_cond_timedwait(&server->reaper_cond, &server->reaper_lock, &until);
      pthread_mutex_unlock(&server->reaper_lock);
      int64_t now = duet_cursor_now_us();
      duet_cursor_reap(&server->cursors, now);
      uint8_t expired[64][16];
      size_t n = duet_lsid_reap(&server->sessions, now, (int64_t)DUET_LSID_TIMEOUT_MINUTES * 60 * 1000000,
                                   expired, 64);
      for (size_t i = 0; i < n; i++) {
         duet_cursor_kill_session(&server->cursors, expired[i]);
      }
      if (now >= next_retry_prune_us) { /* durable retryable-write records past the session timeout */
         duet_retry_prune(server);
         next_retry_prune_us = now + 60 * 1000000;
      }
      pthread_mutex_lock(&server->reaper_lock);
   }
   pthread_mutex_unlock(&server->reaper_lock);
   return NULL;
}

void duet_server_run(duet_server_t *server)
{
   server->reaper_started = pthread_create(&server->reaper, NULL, server_reaper_thread, server) == 0;
   struct pollfd fds[DUET_SERVER_MAX_LISTENERS + 1];
   while (!__atomic_load_n(&server->stopping, __ATOMIC_ACQUIRE)) {
      int count = 0;
      for (int i = 0; i < server->listen_count; i++) {
         fds[count++] = (struct pollfd){server->listen_fds[i], POLLIN, 0};
      }
      fds[count++] = (struct pollfd){server->wake_pipe[0], POLLIN, 0};
      int rc = poll(fds, (nfds_t)count, -1);
      if (rc < 0) {
         if (errno == EINTR) {
            continue;
         }
         break;
      }
      for (int i = 0; i < server->listen_count; i++) {
         if (fds[i].revents & POLLIN) {
            server_accept(server, fds[i].fd);
         }
      }
   }
   __atomic_store_n(&server->stopping, 1, __ATOMIC_RELEASE);

   /* stop accepting */
   for (int i = 0; i < server->listen_count; i++) {
      close(server->listen_fds[i]);
   }
   server->listen_count = 0;

   /* wake connection threads blocked in recv(); a thread inside a command finishes it first */
   pthread_mutex_lock(&server->conns_lock);
   for (duet_conn_t *conn = server->conns; conn; conn = conn->next) {
      shutdown(conn->fd, SHUT_RD);
   }
   pthread_mutex_unlock(&server->conns_lock);

   pthread_mutex_lock(&server->reaper_lock);
   pthread_cond_broadcast(&server->reaper_cond);
   pthread_mutex_unlock(&server->reaper_lock);
   if (server->reaper_started) {
      pthread_join(server->reaper, NULL);
      server->reaper_started = false;
   }

   /* wait for every connection thread to leave */
   pthread_mutex_lock(&server->conns_lock);
   while (server->conns) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1;
      pthread_cond_timedwait(&server->conns_cond, &server->conns_lock, &until);
   }
   pthread_mutex_unlock(&server->conns_lock);
}
