/*
 * conn.c — one client connection: read a frame, handle it, write the reply,
 * until the client leaves, sends something unrecoverable, or the server stops.
 * Runs on its own thread (see server.h for the concurrency model); only this
 * file changes a duet_conn_t after it is started.
 */
#include "server/conn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Reads exactly `length` bytes. False on EOF, error or shutdown. */
static bool conn_read_all(int fd, uint8_t *buffer, size_t length)
{
   size_t done = 0;
   while (done < length) {
      ssize_t n = recv(fd, buffer + done, length - done, 0);
      if (n > 0) {
         done += (size_t)n;
      } else if (n < 0 && errno == EINTR) {
         continue;
      } else {
         return false;
      }
   }
   return true;
}

/*
 * Reads the rest of a message whose header announced `length` bytes into
 * *frame (owned by the caller, freed with bson_free even on failure).  The
 * buffer grows with the bytes that actually arrive — starting at 64 KiB and
 * doubling — so a client announcing 48 MB and sending little holds little.
 */
static bool conn_read_body(int fd, const uint8_t header[DUET_WIRE_HEADER_SIZE], size_t length, uint8_t **frame)
{
   size_t capacity = length < 64 * 1024 ? length : 64 * 1024;
   *frame = bson_malloc(capacity);
   memcpy(*frame, header, DUET_WIRE_HEADER_SIZE);
   size_t done = DUET_WIRE_HEADER_SIZE;
   while (done < length) {
      if (done == capacity) {
         capacity = capacity * 2 < length ? capacity * 2 : length;
         *frame = bson_realloc(*frame, capacity);
      }
      if (!conn_read_all(fd, *frame + done, capacity - done)) {
         return false;
      }
      done = capacity;
   }
   return true;
}

/* Sends the reply's head and body with one system call where the socket takes it all. */
static bool conn_write_reply(int fd, const duet_wire_buffer_t *reply)
{
   struct iovec pieces[2] = {{(void *)reply->head, reply->head_length}, {reply->body, reply->body_length}};
   struct msghdr message = {.msg_iov = pieces, .msg_iovlen = 2};
   size_t left = reply->length;
   while (left > 0) {
      ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         return false;
      }
      left -= (size_t)n;
      while (n > 0) { /* drop what was sent from the front of the pieces */
         size_t taken = (size_t)n < message.msg_iov->iov_len ? (size_t)n : message.msg_iov->iov_len;
         message.msg_iov->iov_base = (uint8_t *)message.msg_iov->iov_base + taken;
         message.msg_iov->iov_len -= taken;
         n -= (ssize_t)taken;
         if (message.msg_iov->iov_len == 0 && message.msg_iovlen > 1) {
            message.msg_iov++;
            message.msg_iovlen--;
         }
      }
   }
   return true;
}

/* A reply buffer grown past CONN_BUFFER_KEEP is given back once the client has been silent for
 * CONN_BUFFER_IDLE_MS: a cursor read in 16 MiB batches keeps one buffer while the client decodes
 * each batch (pymongo takes about a second per batch), an idle connection keeps 64 KiB at most. */
#define CONN_BUFFER_KEEP (64 * 1024)
#define CONN_BUFFER_IDLE_MS 5000

static void conn_release_idle_buffer(duet_conn_t *conn)
{
   if (conn->reply_capacity <= CONN_BUFFER_KEEP || conn->fd < 0) {
      return;
   }
   struct pollfd ready = {conn->fd, POLLIN, 0};
   int n;
   do {
      n = poll(&ready, 1, CONN_BUFFER_IDLE_MS);
   } while (n < 0 && errno == EINTR);
   if (n == 0) {
      bson_free(conn->reply_buffer);
      conn->reply_buffer = NULL;
      conn->reply_capacity = 0;
   }
}

static void conn_log_protocol_error(duet_conn_t *conn, const char *msg, const duet_error_t *error)
{
   bson_t attr = BSON_INITIALIZER;
   BSON_APPEND_UTF8(&attr, "remote", conn->remote);
   if (error) {
      BSON_APPEND_INT32(&attr, "code", error->code);
      BSON_APPEND_UTF8(&attr, "error", error->message);
   }
   duet_log_event(conn->server->log, DUET_LOG_WARNING, "NETWORK", 22988, conn->ctx, msg, &attr, 0);
   bson_destroy(&attr);
}

void duet_conn_serve(duet_conn_t *conn)
{
   duet_server_t *server = conn->server;
   uint8_t header_bytes[DUET_WIRE_HEADER_SIZE];
   while (!__atomic_load_n(&server->stopping, __ATOMIC_ACQUIRE)) {
      conn_release_idle_buffer(conn);
      if (!conn_read_all(conn->fd, header_bytes, sizeof header_bytes)) {
         break; /* the client closed the connection (or shutdown woke us) */
      }
      duet_wire_header_t header;
      duet_wire_read_header(header_bytes, &header);
      duet_error_t error = DUET_ERROR_INIT;
      if (!duet_wire_check_length(&header, &error)) {
         conn_log_protocol_error(conn, "Invalid message length, closing the connection", &error);
         duet_error_clear(&error);
         break;
      }
      size_t length = (size_t)header.message_length;
      uint8_t *frame = NULL;
      if (!conn_read_body(conn->fd, header_bytes, length, &frame)) {
         conn_log_protocol_error(conn, "Connection closed in the middle of a message", NULL);
         bson_free(frame);
         break;
      }
      __atomic_add_fetch(&server->bytes_in, (int64_t)length, __ATOMIC_RELAXED);
      duet_wire_buffer_t reply = DUET_WIRE_BUFFER_INIT;
      bool close = false;
      duet_server_handle_frame(server, conn, frame, length, &reply, &close);
      bson_free(frame);
      bool written = true;
      if (reply.length > 0) {
         written = conn_write_reply(conn->fd, &reply);
         __atomic_add_fetch(&server->bytes_out, (int64_t)reply.length, __ATOMIC_RELAXED);
      }
      duet_wire_buffer_destroy(&reply);
      if (close || !written) {
         break;
      }
   }
}
