package review

import (
	"bufio"
	"context"
	"io"
	"time"

	"patchwell/archive"
	"patchwell/store"
)

// Export writes every message of list to w as mboxrd (archive.MboxWriter,
// each message from "mboxrd@z" at the epoch, as public-inbox does), in
// arrival order, byte for byte as it was received. progress, when set, is
// told the list's number of messages, and of each one written.
func Export(ctx context.Context, st store.Store, list string, w io.Writer, progress Progress) error {
	l, err := st.List(ctx, list)
	if err != nil {
		return err
	}
	var add func(n int)
	if progress != nil {
		add = progress(int64(l.Messages))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	mw := archive.NewMboxWriter(bw)
	err = st.Walk(ctx, list, func(m *store.Message, raw []byte) error {
		if add != nil {
			add(1)
		}
		return mw.Write(raw, "mboxrd@z", time.Time{})
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
