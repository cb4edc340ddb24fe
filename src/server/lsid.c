/*
 * lsid.c — the logical-session registry.  See lsid.h.
 */
#include "server/lsid.h"

#include <bson/bson.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct duet_lsid_session {
   uint8_t id[16];         /* the lsid UUID */
   int64_t last_used_us;   /* monotonic */
   bool has_write;         /* a retryable write was recorded */
   int64_t txn_number;     /* its txnNumber */
   char command[32];       /* its command name */
   bson_t *reply;          /* owned copy of its reply */
   duet_lsid_session_t *next;
};

static void session_free(duet_lsid_session_t *session)
{
   if (session->reply) {
      bson_destroy(session->reply);
   }
   bson_free(session);
}

/* Requires the lock. */
static duet_lsid_session_t *session_find(duet_lsid_registry_t *registry, const uint8_t lsid[16])
{
   duet_lsid_session_t *session = registry->head;
   while (session && memcmp(session->id, lsid, 16) != 0) {
      session = session->next;
   }
   return session;
}

void duet_lsid_registry_init(duet_lsid_registry_t *registry)
{
   memset(registry, 0, sizeof *registry);
   pthread_mutex_init(&registry->lock, NULL);
}

void duet_lsid_registry_destroy(duet_lsid_registry_t *registry)
{
   duet_lsid_session_t *session = registry->head;
   while (session) {
      duet_lsid_session_t *next = session->next;
      session_free(session);
      session = next;
   }
   registry->head = NULL;
   pthread_mutex_destroy(&registry->lock);
}

void duet_lsid_touch(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t now_us)
{
   pthread_mutex_lock(&registry->lock);
   duet_lsid_session_t *session = session_find(registry, lsid);
   if (!session) {
      session = bson_malloc0(sizeof *session);
      memcpy(session->id, lsid, 16);
      session->next = registry->head;
      registry->head = session;
      registry->active++;
   }
   session->last_used_us = now_us;
   pthread_mutex_unlock(&registry->lock);
}

bool duet_lsid_end(duet_lsid_registry_t *registry, const uint8_t lsid[16])
{
   bool found = false;
   pthread_mutex_lock(&registry->lock);
   for (duet_lsid_session_t **link = &registry->head; *link; link = &(*link)->next) {
      if (memcmp((*link)->id, lsid, 16) == 0) {
         duet_lsid_session_t *session = *link;
         *link = session->next;
         session_free(session);
         registry->active--;
         found = true;
         break;
      }
   }
   pthread_mutex_unlock(&registry->lock);
   return found;
}

size_t duet_lsid_reap(duet_lsid_registry_t *registry, int64_t now_us, int64_t timeout_us, uint8_t (*expired)[16],
                         size_t max)
{
   size_t count = 0;
   pthread_mutex_lock(&registry->lock);
   duet_lsid_session_t **link = &registry->head;
   while (*link && count < max) {
      duet_lsid_session_t *session = *link;
      if (now_us - session->last_used_us > timeout_us) {
         memcpy(expired[count++], session->id, 16);
         *link = session->next;
         session_free(session);
         registry->active--;
      } else {
         link = &session->next;
      }
   }
   pthread_mutex_unlock(&registry->lock);
   return count;
}

bool duet_lsid_retry_lookup(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t txn_number,
                            const char *command, bson_t *reply, bool *found, bool *known, duet_error_t *error)
{
   *found = false;
   *known = false;
   bool ok = true;
   pthread_mutex_lock(&registry->lock);
   duet_lsid_session_t *session = session_find(registry, lsid);
   if (session && session->has_write) {
      *known = true;
      if (txn_number < session->txn_number) {
         duet_error_set(error, DUET_ERR_TRANSACTION_TOO_OLD,
                        "Retryable write with txnNumber %lld is prohibited on session because a newer retryable "
                        "write with txnNumber %lld has already started on this session.",
                        (long long)txn_number, (long long)session->txn_number);
         ok = false;
      } else if (txn_number == session->txn_number && strcmp(command, session->command) == 0) {
         bson_reinit(reply);
         bson_concat(reply, session->reply);
         *found = true;
      }
   }
   pthread_mutex_unlock(&registry->lock);
   return ok;
}

void duet_lsid_retry_record(duet_lsid_registry_t *registry, const uint8_t lsid[16], int64_t txn_number,
                            const char *command, const bson_t *reply)
{
   pthread_mutex_lock(&registry->lock);
   duet_lsid_session_t *session = session_find(registry, lsid);
   if (session && (!session->has_write || txn_number >= session->txn_number)) {
      if (session->reply) {
         bson_destroy(session->reply);
      }
      session->reply = bson_copy(reply);
      session->txn_number = txn_number;
      snprintf(session->command, sizeof session->command, "%s", command);
      session->has_write = true;
   }
   pthread_mutex_unlock(&registry->lock);
}

void duet_lsid_new(uint8_t lsid[16])
{
   bool filled = false;
   int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
   if (fd >= 0) {
      filled = read(fd, lsid, 16) == 16;
      close(fd);
   }
   if (!filled) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      uint64_t a = (uint64_t)ts.tv_nsec * 6364136223846793005ull + (uint64_t)getpid();
      uint64_t b = (uint64_t)ts.tv_sec * 1442695040888963407ull ^ (uint64_t)(uintptr_t)lsid;
      memcpy(lsid, &a, 8);
      memcpy(lsid + 8, &b, 8);
   }
   lsid[6] = (uint8_t)((lsid[6] & 0x0F) | 0x40); /* version 4 */
   lsid[8] = (uint8_t)((lsid[8] & 0x3F) | 0x80); /* RFC 4122 variant */
}
