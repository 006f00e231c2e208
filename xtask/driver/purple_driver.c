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
 * Usage: purple_driver USER@HOST USER_DIR FIRST LAST [--echo]
 * It needs avahi-daemon reachable over D-Bus (DBUS_SYSTEM_BUS_ADDRESS).
 */
#include <glib.h>
#include <purple.h>
#include <stdio.h>
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
    main_loop = g_main_loop_new(NULL, FALSE);
    purple_util_set_user_dir(argv[2]);
    purple_debug_set_ui_ops(&debug_ops);
    purple_eventloop_set_ui_ops(&loop_ops);
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
