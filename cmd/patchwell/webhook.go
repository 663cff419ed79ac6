package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"patchwell/store"
	"patchwell/webhook"
)

// cmdWebhook manages outgoing webhooks: the subscriptions of outside
// systems (CI) to series events.
func cmdWebhook(args []string) error {
	usage := usageError{"usage: patchwell " + commands["webhook"].usage}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usage
	}
	fs := newFlags("webhook")
	data, dbURL := storeFlags(fs)
	secretFile := fs.String("secret-file", "", "file whose first line is the shared secret that signs deliveries (add)")
	events := fs.String("events", "", "comma-separated event types to send (add; default all): "+strings.Join(webhook.Types, ", "))
	list := fs.String("list", "", "only events of this list (add; default every list)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "rm": 1, "ls": 0}
	n, ok := want[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown webhook command %q (add, rm, ls)", args[0])}
	}
	if len(pos) != n {
		return usage
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "add":
		if *secretFile == "" {
			return usageError{"webhook add needs --secret-file FILE (the receiver checks X-Patchwell-Signature with it)"}
		}
		secret, err := webhook.ReadSecret(*secretFile)
		if err != nil {
			return err
		}
		evs, err := webhook.ParseEvents(*events)
		if err != nil {
			return usageError{err.Error()}
		}
		w, err := st.AddWebhook(ctx, store.Webhook{URL: pos[0], Secret: secret, Events: evs, List: *list})
		if err != nil {
			return err
		}
		fmt.Printf("webhook %d: %s\n", w.ID, w.URL)
	case "rm":
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return usageError{"webhook rm ID: the id as webhook ls shows it"}
		}
		if err := st.DeleteWebhook(ctx, id); err != nil {
			return err
		}
		fmt.Printf("removed webhook %d\n", id)
	case "ls":
		hooks, err := st.Webhooks(ctx)
		if err != nil {
			return err
		}
		count, err := st.WebhookDeliveryCounts(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		for _, h := range hooks {
			evs, l := "all events", "every list"
			if len(h.Events) > 0 {
				evs = strings.Join(h.Events, ",")
			}
			if h.List != "" {
				l = h.List
			}
			c := count[h.ID]
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\tdelivered %d, pending %d, failed %d\n", h.ID, h.URL, evs, l,
				c[store.WebhookDelivered], c[store.WebhookPending], c[store.WebhookFailed])
		}
		return w.Flush()
	}
	return nil
}
