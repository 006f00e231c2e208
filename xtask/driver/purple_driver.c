/*
 * A headless libpurple peer with one `prpl-bonjour` account, for `cargo xtask interop`.
 *
 * Line protocol. On stdin: `SEND <peer> <text>`, `STATUS <avail|away|dnd> [message]`,
 * `ICON <image file>` (our buddy icon, which the Bonjour plugin publishes as a NULL record
 * with its `phsh`), `QUIT`. On stdout, one event a line: `SIGNED_ON <account>`,
 * `BUDDY_ON <name>|<alias>|<status id>|<message>`, `BUDDY_STATUS <name>|<status id>|
 * <message>`, `BUDDY_OFF <name>`, `BUDDY_GONE <name>`, `BUDDY_ICON <name>|<SHA-1 of the
 * icon, or empty>`, `RECV <sender>|<text>`, `SENT <peer>|<rc>`, `ERROR <text>`.
 * `BUDDY_GONE` is how the Bonjour plugin takes a peer offline: a buddy it added itself on
 * discovery (flagged not-to-be-saved) is removed from the buddy list when its service goes,
 * without a `buddy-signed-off` signal. With `--echo` every message
 * received is sent back as `echo: <text>` (never an echo of an echo). libpurple's debug
 * output goes to stderr.
 *
 * File transfer (XEP-0095 SI + XEP-0065 SOCKS5, the plugin's `bonjour_ft.c`). Every
 * transfer, sent or received, gets a number n (1, 2, ...). On stdin:
 * `SENDFILE <peer> <path>` offers a file; `FILEPOLICY ask` (the default) announces each
 * offer and waits for `FILEACCEPT <n> <dir>` or `FILEREJECT <n>`; `FILEPOLICY accept <dir>`
 * accepts every offer; `FILEPOLICY reject` refuses every offer; `FILEPOLICY cancel-after
 * <bytes> <dir>` accepts, then cancels once at least that many bytes have arrived (each
 * FILEPOLICY is answered `POLICY <its words>` once in force, or `ERROR bad FILEPOLICY …`);
 * `FILECANCEL <n>` cancels transfer n, either direction. A received file is saved as
 * `<dir>/<the offered name>`, the name unchanged (one that holds a `/` or is `.` or `..` is
 * refused, `unsafe name`). On stdout: `FILE_OFFER <n>|<from>|<name>|<size>` (the name runs
 * to the last `|`; size 0 means none was offered), `FILE_SENDING <n>|<peer>|<path>`,
 * `FILE_PROGRESS <n>|<bytes>|<size>` (at most 4 a second per transfer), then exactly one
 * of `FILE_DONE <n>|<local path>|<bytes in the file>|<SHA-256 hex of the file>` and
 * `FILE_FAILED <n>|<reason>`, the reason one of `denied` (we refused the offer), `unsafe
 * name`, `cancelled locally` (FILECANCEL or cancel-after), `cancelled remotely` (the peer
 * refused or cancelled, or its stream ended early), `failed` (libpurple gave up on its own,
 * e.g. no streamhost reachable), `destroyed` (libpurple dropped it without saying why),
 * `cannot read <path>: <why>` (the finished file could not be read back).
 * A SENDFILE that creates no transfer (unknown peer, unreadable file) gives an `ERROR`.
 * libpurple's own limits show through: it never finishes a 0-byte file (its sender has
 * nothing to write and waits, so both ends stay started until FILECANCEL); a receiver takes
 * size 0 as unknown and the end of the stream as the sender's cancel (`cancelled remotely`,
 * an empty file left on disk); a cancelled transfer leaves its partial file; FILECANCEL of
 * an offer not yet answered tells the sender nothing (FILEREJECT does).
 *
 * Usage: purple_driver USER@HOST USER_DIR FIRST LAST [--echo]
 * It needs avahi-daemon reachable over D-Bus (DBUS_SYSTEM_BUS_ADDRESS).
 */
#include <errno.h>
#include <glib.h>
#include <purple.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UI_ID "llxmpp-interop"

static PurpleAccount *account;
static GMainLoop *main_loop;
static gboolean echo;

typedef struct {
    PurpleInputFunction function;
    gpointer data;
} IoClosure;

static gboolean io_invoke(GIOChannel *source, GIOCondition condition, gpointer data) {
    IoClosure *closure = data;
    PurpleInputCondition purple_condition = 0;
    if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        purple_condition |= PURPLE_INPUT_READ;
    if (condition & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
        purple_condition |= PURPLE_INPUT_WRITE;
    closure->function(closure->data, g_io_channel_unix_get_fd(source), purple_condition);
    return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition condition, PurpleInputFunction function, gpointer data) {
    IoClosure *closure = g_new0(IoClosure, 1);
    GIOCondition glib_condition = 0;
    closure->function = function;
    closure->data = data;
    if (condition & PURPLE_INPUT_READ)
        glib_condition |= G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (condition & PURPLE_INPUT_WRITE)
        glib_condition |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
    GIOChannel *channel = g_io_channel_unix_new(fd);
    guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, glib_condition, io_invoke, closure, g_free);
    g_io_channel_unref(channel);
    return id;
}

static PurpleEventLoopUiOps loop_ops = {
    g_timeout_add, g_source_remove, input_add, g_source_remove, NULL, g_timeout_add_seconds, NULL, NULL, NULL,
};

static void debug_print(PurpleDebugLevel level, const char *category, const char *text) {
    (void)level;
    fprintf(stderr, "%s: %s", category ? category : "-", text);
}

static gboolean debug_enabled(PurpleDebugLevel level, const char *category) {
    (void)level;
    (void)category;
    return TRUE;
}

static PurpleDebugUiOps debug_ops = {debug_print, debug_enabled, NULL, NULL, NULL, NULL};

static void emit(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void emit(const char *format, ...) {
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

/* Plain text of a message's markup, newlines folded so that one event stays one line. */
static char *plain(const char *markup) {
    char *text = NULL;
    purple_markup_html_to_xhtml(markup, NULL, &text);
    for (char *c = text; c && *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return text ? text : g_strdup("");
}

static void send_im(const char *peer, const char *text) {
    PurpleConversation *conversation = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, peer);
    char *markup = g_markup_escape_text(text, -1);
    purple_conv_im_send(PURPLE_CONV_IM(conversation), markup);
    emit("SENT %s|ok", peer);
    g_free(markup);
}

static void status_text(PurpleBuddy *buddy, const char **id, const char **message) {
    PurpleStatus *status = purple_presence_get_active_status(purple_buddy_get_presence(buddy));
    *id = purple_status_get_id(status);
    *message = purple_status_get_attr_string(status, "message");
}

static void signed_on(PurpleConnection *connection, gpointer data) {
    (void)data;
    emit("SIGNED_ON %s", purple_account_get_username(purple_connection_get_account(connection)));
}

static void connection_error(PurpleConnection *connection, PurpleConnectionError reason, const char *text, gpointer data) {
    (void)connection;
    (void)reason;
    (void)data;
    emit("ERROR %s", text);
}

static void buddy_signed_on(PurpleBuddy *buddy, gpointer data) {
    (void)data;
    const char *id, *message;
    status_text(buddy, &id, &message);
    emit("BUDDY_ON %s|%s|%s|%s", purple_buddy_get_name(buddy), purple_buddy_get_alias(buddy), id, message ? message : "");
}

static void buddy_status_changed(PurpleBuddy *buddy, PurpleStatus *old, PurpleStatus *now, gpointer data) {
    (void)old;
    (void)data;
    const char *message = purple_status_get_attr_string(now, "message");
    emit("BUDDY_STATUS %s|%s|%s", purple_buddy_get_name(buddy), purple_status_get_id(now), message ? message : "");
}

static void buddy_signed_off(PurpleBuddy *buddy, gpointer data) {
    (void)data;
    emit("BUDDY_OFF %s", purple_buddy_get_name(buddy));
}

static void buddy_removed(PurpleBuddy *buddy, gpointer data) {
    (void)data;
    emit("BUDDY_GONE %s", purple_buddy_get_name(buddy));
}

static void buddy_icon_changed(PurpleBuddy *buddy, gpointer data) {
    (void)data;
    PurpleBuddyIcon *icon = purple_buddy_get_icon(buddy);
    size_t length = 0;
    gconstpointer bytes = icon ? purple_buddy_icon_get_data(icon, &length) : NULL;
    char *sha1 = bytes ? g_compute_checksum_for_data(G_CHECKSUM_SHA1, bytes, length) : NULL;
    emit("BUDDY_ICON %s|%s", purple_buddy_get_name(buddy), sha1 ? sha1 : "");
    g_free(sha1);
}

static void set_icon(const char *path) {
    gchar *bytes = NULL;
    gsize length = 0;
    GError *error = NULL;
    if (!g_file_get_contents(path, &bytes, &length, &error)) {
        emit("ERROR cannot read %s: %s", path, error->message);
        g_error_free(error);
        return;
    }
    /* libpurple takes the bytes and frees them. */
    purple_buddy_icons_set_account_icon(account, (guchar *)bytes, length);
}

static void received_im(PurpleAccount *acct, char *sender, char *message, PurpleConversation *conv, PurpleMessageFlags flags, gpointer data) {
    (void)acct;
    (void)conv;
    (void)flags;
    (void)data;
    char *text = plain(message);
    emit("RECV %s|%s", sender, text);
    if (echo && !g_str_has_prefix(text, "echo: ")) {
        char *reply = g_strdup_printf("echo: %s", text);
        send_im(sender, reply);
        g_free(reply);
    }
    g_free(text);
}

static void set_status(const char *word, const char *message) {
    PurpleStatusPrimitive primitive = PURPLE_STATUS_AVAILABLE;
    if (g_strcmp0(word, "away") == 0)
        primitive = PURPLE_STATUS_AWAY;
    else if (g_strcmp0(word, "dnd") == 0)
        primitive = PURPLE_STATUS_UNAVAILABLE;
    PurpleSavedStatus *status = purple_savedstatus_new(NULL, primitive);
    if (message)
        purple_savedstatus_set_message(status, message);
    purple_savedstatus_activate(status);
}

/* What the driver knows of one transfer, in the xfer's `ui_data` (freed with the xfer). */
typedef struct {
    int n;
    gboolean announced;        /* FILE_OFFER or FILE_SENDING printed */
    gboolean finished;         /* FILE_DONE or FILE_FAILED printed (or scheduled) */
    gboolean cancel_requested; /* we cancelled it, so a local cancel is ours, not a failure */
    gboolean cancel_scheduled;
    gboolean cancel_after;     /* cancel once `cancel_bytes` have arrived */
    guint64 cancel_bytes;
    gint64 last_progress; /* monotonic µs of the last FILE_PROGRESS */
} Transfer;

typedef enum { POLICY_ASK, POLICY_ACCEPT, POLICY_REJECT, POLICY_CANCEL_AFTER } Policy;
static const char *const POLICY_WORDS[] = {"ask", "accept", "reject", "cancel-after"};

static Policy policy = POLICY_ASK;
static char *policy_dir;
static guint64 policy_bytes;
static int next_transfer = 1;
/* Unfinished transfers by number: n → PurpleXfer (libpurple 2's xfer is no GObject). */
static GHashTable *transfers;
/* The number of the transfer the last SENDFILE announced, to tell whether it made one. */
static int last_sending;

static Transfer *transfer_of(PurpleXfer *xfer) {
    return xfer ? xfer->ui_data : NULL;
}

static PurpleXfer *find_transfer(const char *number) {
    char *end = NULL;
    long n = number ? strtol(number, &end, 10) : 0;
    PurpleXfer *xfer = end && *end == '\0' ? g_hash_table_lookup(transfers, GINT_TO_POINTER((int)n)) : NULL;
    if (!xfer)
        emit("ERROR no unfinished transfer %s", number ? number : "");
    return xfer;
}

/* Marks the transfer finished: from now on it prints nothing and cannot be named. */
static gboolean finish(Transfer *t) {
    if (!t || t->finished)
        return FALSE;
    t->finished = TRUE;
    g_hash_table_remove(transfers, GINT_TO_POINTER(t->n));
    return TRUE;
}

/* One field of an event: a newline in an offered name would split the line. */
static char *one_line(const char *text) {
    char *copy = g_strdup(text ? text : "");
    for (char *c = copy; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return copy;
}

typedef struct {
    int n;
    char *path;
} Done;

/* FILE_DONE from the file on disk. It runs from an idle callback because libpurple signals
 * completion before it has written the last chunk and closed the file (purple_xfer_end, in
 * the same call, does that); at default priority, so that the socket watches of other
 * transfers cannot hold it back. */
static gboolean report_done(gpointer data) {
    Done *done = data;
    FILE *file = fopen(done->path, "rb");
    if (!file) {
        emit("FILE_FAILED %d|cannot read %s: %s", done->n, done->path, g_strerror(errno));
    } else {
        GChecksum *checksum = g_checksum_new(G_CHECKSUM_SHA256);
        guchar buffer[65536];
        guint64 total = 0;
        size_t got;
        while ((got = fread(buffer, 1, sizeof buffer, file)) > 0) {
            g_checksum_update(checksum, buffer, got);
            total += got;
        }
        fclose(file);
        emit("FILE_DONE %d|%s|%" G_GUINT64_FORMAT "|%s", done->n, done->path, total, g_checksum_get_string(checksum));
        g_checksum_free(checksum);
    }
    g_free(done->path);
    g_free(done);
    return G_SOURCE_REMOVE;
}

static void xfer_completed(PurpleXfer *xfer, gpointer data) {
    (void)data;
    Transfer *t = transfer_of(xfer);
    if (!finish(t))
        return;
    /* A copy: a sent xfer is freed before the idle callback runs. */
    Done *done = g_new0(Done, 1);
    done->n = t->n;
    done->path = g_strdup(purple_xfer_get_local_filename(xfer));
    g_idle_add_full(G_PRIORITY_DEFAULT, report_done, done, NULL);
}

static void xfer_cancelled(PurpleXfer *xfer, gpointer data) {
    (void)data;
    Transfer *t = transfer_of(xfer);
    if (!finish(t))
        return;
    const char *reason = "failed";
    if (purple_xfer_get_status(xfer) == PURPLE_XFER_STATUS_CANCEL_REMOTE)
        reason = "cancelled remotely";
    else if (t->cancel_requested)
        reason = "cancelled locally";
    emit("FILE_FAILED %d|%s", t->n, reason);
}

static void cancel_transfer(PurpleXfer *xfer) {
    transfer_of(xfer)->cancel_requested = TRUE;
    purple_xfer_cancel_local(xfer);
}

/* purple_xfer_request_denied sends the peer a 403 and drops the xfer without changing its
 * status, so no cancel signal follows: the FILE_FAILED line is ours to print. */
static void deny_offer(PurpleXfer *xfer, const char *reason) {
    Transfer *t = transfer_of(xfer);
    if (finish(t))
        emit("FILE_FAILED %d|%s", t->n, reason);
    purple_xfer_request_denied(xfer);
}

static void accept_offer(PurpleXfer *xfer, const char *dir) {
    const char *name = purple_xfer_get_filename(xfer);
    /* The offered name is kept byte for byte, but it must not leave `dir`. */
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        deny_offer(xfer, "unsafe name");
        return;
    }
    char *path = g_build_filename(dir, name, NULL);
    purple_xfer_request_accepted(xfer, path);
    g_free(path);
}

/* An offer arrives. libpurple emits this before it would ask a UI (we have none, so that
 * asking does nothing), and accepting or denying right here is what its own auto-accept
 * plugin does. Left alone, the offer waits for FILEACCEPT or FILEREJECT. */
static void xfer_offered(PurpleXfer *xfer, gpointer data) {
    (void)data;
    Transfer *t = transfer_of(xfer);
    if (!t)
        return;
    t->announced = TRUE;
    char *name = one_line(purple_xfer_get_filename(xfer));
    emit("FILE_OFFER %d|%s|%s|%" G_GSIZE_FORMAT, t->n, purple_xfer_get_remote_user(xfer), name, purple_xfer_get_size(xfer));
    g_free(name);
    /* In libpurple's log beside its own lines, for a scenario that fails on an answer. */
    purple_debug_info("driver", "offer %d meets policy %s\n", t->n, POLICY_WORDS[policy]);
    switch (policy) {
    case POLICY_ACCEPT:
        accept_offer(xfer, policy_dir);
        break;
    case POLICY_CANCEL_AFTER:
        t->cancel_after = TRUE;
        t->cancel_bytes = policy_bytes;
        accept_offer(xfer, policy_dir);
        break;
    case POLICY_REJECT:
        deny_offer(xfer, "denied");
        break;
    case POLICY_ASK:
        break;
    }
}

static void new_xfer(PurpleXfer *xfer) {
    Transfer *t = g_new0(Transfer, 1);
    t->n = next_transfer++;
    xfer->ui_data = t;
    g_hash_table_insert(transfers, GINT_TO_POINTER(t->n), xfer);
}

static void destroy_xfer(PurpleXfer *xfer) {
    Transfer *t = transfer_of(xfer);
    if (t && t->announced && finish(t))
        emit("FILE_FAILED %d|destroyed", t->n);
    else if (t && !t->finished)
        g_hash_table_remove(transfers, GINT_TO_POINTER(t->n));
    xfer->ui_data = NULL;
    g_free(t);
}

/* libpurple adds an xfer to the UI once a send has passed its checks (the file exists and
 * its size is known), just before the offer goes out. */
static void add_xfer(PurpleXfer *xfer) {
    Transfer *t = transfer_of(xfer);
    if (!t || purple_xfer_get_type(xfer) != PURPLE_XFER_SEND)
        return;
    t->announced = TRUE;
    last_sending = t->n;
    emit("FILE_SENDING %d|%s|%s", t->n, purple_xfer_get_remote_user(xfer), purple_xfer_get_local_filename(xfer));
}

static gboolean cancel_later(gpointer data) {
    PurpleXfer *xfer = g_hash_table_lookup(transfers, data);
    if (xfer && purple_xfer_get_status(xfer) == PURPLE_XFER_STATUS_STARTED)
        cancel_transfer(xfer);
    return G_SOURCE_REMOVE;
}

static void update_progress(PurpleXfer *xfer, double percent) {
    (void)percent;
    Transfer *t = transfer_of(xfer);
    /* Completion calls this too, before the last chunk is counted: FILE_DONE says it. */
    if (!t || t->finished || purple_xfer_get_status(xfer) != PURPLE_XFER_STATUS_STARTED)
        return;
    gint64 now = g_get_monotonic_time();
    if (now - t->last_progress >= 250000) {
        t->last_progress = now;
        emit("FILE_PROGRESS %d|%" G_GSIZE_FORMAT "|%" G_GSIZE_FORMAT, t->n, purple_xfer_get_bytes_sent(xfer), purple_xfer_get_size(xfer));
    }
    /* Not from inside libpurple's transfer loop, which goes on using the xfer after this; and
     * not at idle priority, which the socket watch (always ready) would starve to the end. */
    if (t->cancel_after && !t->cancel_scheduled && purple_xfer_get_bytes_sent(xfer) >= t->cancel_bytes) {
        t->cancel_scheduled = TRUE;
        g_idle_add_full(G_PRIORITY_DEFAULT, cancel_later, GINT_TO_POINTER(t->n), NULL);
    }
}

/* No ui_read/ui_write: libpurple reads and writes the files itself. */
static PurpleXferUiOps xfer_ops = {new_xfer, destroy_xfer, add_xfer, update_progress, NULL, NULL, NULL, NULL, NULL, NULL};

static void send_file(const char *peer, const char *path) {
    int before = last_sending;
    serv_send_file(purple_account_get_connection(account), peer, path);
    /* libpurple says nothing when the peer is unknown or the file cannot be read. */
    if (last_sending == before)
        emit("ERROR cannot send %s to %s", path, peer);
}

static void set_policy(const char *arguments) {
    char **parts = g_strsplit(arguments, " ", 2);
    gboolean understood = TRUE;
    if (g_strcmp0(parts[0], "ask") == 0 && !parts[1]) {
        policy = POLICY_ASK;
    } else if (g_strcmp0(parts[0], "reject") == 0 && !parts[1]) {
        policy = POLICY_REJECT;
    } else if (g_strcmp0(parts[0], "accept") == 0 && parts[1]) {
        policy = POLICY_ACCEPT;
        g_free(policy_dir);
        policy_dir = g_strdup(parts[1]);
    } else if (g_strcmp0(parts[0], "cancel-after") == 0 && parts[1]) {
        char **counted = g_strsplit(parts[1], " ", 2);
        guint64 bytes = 0;
        understood = counted[1] && g_ascii_string_to_unsigned(counted[0], 10, 0, G_MAXUINT64, &bytes, NULL);
        if (understood) {
            policy = POLICY_CANCEL_AFTER;
            policy_bytes = bytes;
            g_free(policy_dir);
            policy_dir = g_strdup(counted[1]);
        }
        g_strfreev(counted);
    } else {
        understood = FALSE;
    }
    /* The harness waits for this before it lets an offer go out: an offer must meet the
     * policy it was sent for, whatever the order in which the loop reads stdin and sockets. */
    if (understood)
        emit("POLICY %s", arguments);
    else
        emit("ERROR bad FILEPOLICY %s", arguments);
    g_strfreev(parts);
}

/* FILEACCEPT and FILEREJECT name an offer still waiting for an answer. Its status is still
 * the UNKNOWN (0) of a new xfer: libpurple 2 never sets NOT_STARTED. */
static PurpleXfer *find_offer(const char *number) {
    PurpleXfer *xfer = find_transfer(number);
    PurpleXferStatusType status = xfer ? purple_xfer_get_status(xfer) : PURPLE_XFER_STATUS_UNKNOWN;
    if (xfer && (purple_xfer_get_type(xfer) != PURPLE_XFER_RECEIVE ||
                 (status != PURPLE_XFER_STATUS_UNKNOWN && status != PURPLE_XFER_STATUS_NOT_STARTED))) {
        emit("ERROR transfer %s is no offer waiting for an answer", number);
        return NULL;
    }
    return xfer;
}

static gboolean on_stdin(GIOChannel *channel, GIOCondition condition, gpointer data) {
    (void)data;
    (void)condition;
    char *line = NULL;
    gsize length = 0;
    GIOStatus status = g_io_channel_read_line(channel, &line, &length, NULL, NULL);
    if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
        g_main_loop_quit(main_loop);
        return FALSE;
    }
    if (line == NULL)
        return TRUE;
    g_strchomp(line);
    if (g_str_has_prefix(line, "SEND ")) {
        char **parts = g_strsplit(line + 5, " ", 2);
        if (parts[0] && parts[1])
            send_im(parts[0], parts[1]);
        g_strfreev(parts);
    } else if (g_str_has_prefix(line, "STATUS ")) {
        char **parts = g_strsplit(line + 7, " ", 2);
        set_status(parts[0], parts[1]);
        g_strfreev(parts);
    } else if (g_str_has_prefix(line, "ICON ")) {
        set_icon(line + 5);
    } else if (g_str_has_prefix(line, "SENDFILE ")) {
        char **parts = g_strsplit(line + 9, " ", 2);
        if (parts[0] && parts[1])
            send_file(parts[0], parts[1]);
        g_strfreev(parts);
    } else if (g_str_has_prefix(line, "FILEPOLICY ")) {
        set_policy(line + 11);
    } else if (g_str_has_prefix(line, "FILEACCEPT ")) {
        char **parts = g_strsplit(line + 11, " ", 2);
        PurpleXfer *xfer = parts[1] ? find_offer(parts[0]) : NULL;
        if (xfer)
            accept_offer(xfer, parts[1]);
        g_strfreev(parts);
    } else if (g_str_has_prefix(line, "FILEREJECT ")) {
        PurpleXfer *xfer = find_offer(line + 11);
        if (xfer)
            deny_offer(xfer, "denied");
    } else if (g_str_has_prefix(line, "FILECANCEL ")) {
        PurpleXfer *xfer = find_transfer(line + 11);
        if (xfer)
            cancel_transfer(xfer);
    } else if (g_strcmp0(line, "QUIT") == 0) {
        purple_account_set_enabled(account, UI_ID, FALSE);
        g_main_loop_quit(main_loop);
    }
    g_free(line);
    return TRUE;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s USER@HOST USER_DIR FIRST LAST [--echo]\n", argv[0]);
        return 2;
    }
    echo = argc > 5 && strcmp(argv[5], "--echo") == 0;
    /* As Pidgin and Finch do: libpurple writes to sockets with plain send(), and a second
     * write to a stream the peer has reset (an llxmpp that refused it, say) raises
     * SIGPIPE, whose default action would end the driver, and with it libpurple's
     * service, in the middle of a scenario. The write then fails with EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    main_loop = g_main_loop_new(NULL, FALSE);
    purple_util_set_user_dir(argv[2]);
    purple_debug_set_ui_ops(&debug_ops);
    purple_eventloop_set_ui_ops(&loop_ops);
    purple_xfers_set_ui_ops(&xfer_ops);
    transfers = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (!purple_core_init(UI_ID)) {
        fprintf(stderr, "libpurple did not initialise\n");
        return 1;
    }
    purple_set_blist(purple_blist_new());
    purple_prefs_set_bool("/purple/network/map_ports", FALSE);

    static int handle;
    purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle, PURPLE_CALLBACK(signed_on), NULL);
    purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle, PURPLE_CALLBACK(connection_error), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-signed-on", &handle, PURPLE_CALLBACK(buddy_signed_on), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-signed-off", &handle, PURPLE_CALLBACK(buddy_signed_off), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-removed", &handle, PURPLE_CALLBACK(buddy_removed), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-status-changed", &handle, PURPLE_CALLBACK(buddy_status_changed), NULL);
    purple_signal_connect(purple_blist_get_handle(), "buddy-icon-changed", &handle, PURPLE_CALLBACK(buddy_icon_changed), NULL);
    purple_signal_connect(purple_conversations_get_handle(), "received-im-msg", &handle, PURPLE_CALLBACK(received_im), NULL);
    purple_signal_connect(purple_xfers_get_handle(), "file-recv-request", &handle, PURPLE_CALLBACK(xfer_offered), NULL);
    purple_signal_connect(purple_xfers_get_handle(), "file-recv-complete", &handle, PURPLE_CALLBACK(xfer_completed), NULL);
    purple_signal_connect(purple_xfers_get_handle(), "file-send-complete", &handle, PURPLE_CALLBACK(xfer_completed), NULL);
    purple_signal_connect(purple_xfers_get_handle(), "file-recv-cancel", &handle, PURPLE_CALLBACK(xfer_cancelled), NULL);
    purple_signal_connect(purple_xfers_get_handle(), "file-send-cancel", &handle, PURPLE_CALLBACK(xfer_cancelled), NULL);

    account = purple_account_new(argv[1], "prpl-bonjour");
    purple_account_set_string(account, "first", argv[3]);
    purple_account_set_string(account, "last", argv[4]);
    purple_accounts_add(account);
    purple_account_set_enabled(account, UI_ID, TRUE);
    set_status("avail", NULL);

    GIOChannel *input = g_io_channel_unix_new(0);
    g_io_add_watch(input, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
    g_main_loop_run(main_loop);
    purple_core_quit();
    return 0;
}
