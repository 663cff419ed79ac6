package ci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// The remote runner protocol (JSON over HTTP, bearer token):
//
//	POST /api/v1/ci/claim            {"runner":"host-1"}
//	  200 RemoteJob                  a job, leased to this runner
//	  204                            nothing to do
//	POST /api/v1/ci/jobs/{id}/renew  {"runner":"host-1"}
//	  204, or 409 when the lease was lost (stop the job)
//	POST /api/v1/ci/jobs/{id}/result RemoteResult
//	  204, or 409 when the lease was lost (the result is dropped)
//
// A runner's lease owner is "remote:" + the token's name + "/" + the
// runner field, so two processes sharing a token do not share leases.

// RemoteJob is what a remote runner needs to run one job.
type RemoteJob struct {
	ID       int64  `json:"id"`
	SeriesID int64  `json:"series_id"`
	Attempt  int    `json:"attempt"`
	MboxURL  string `json:"mbox_url"` // the series' patches in order, as an mbox (with the token)
	RepoURL  string `json:"repo_url"` // what git clone (hg clone) accepts
	// VCS is the repository's system: "git" ("" reads as git) or "hg".
	VCS    string `json:"vcs,omitempty"`
	Branch string `json:"branch"`
	Base   string `json:"base,omitempty"` // commit to apply on, when known
	Check  string `json:"check"`          // "" runs no check; ignored when Steps are given
	Limits Limits `json:"limits"`
	// Steps, when given, are the check (the branch's .patchwell.yml),
	// with its TimeoutSeconds, Disk, Image and Source (see Definition).
	Steps          []RemoteStep `json:"steps,omitempty"`
	TimeoutSeconds int          `json:"timeout_seconds,omitempty"`
	Disk           int64        `json:"disk,omitempty"`
	Image          string       `json:"image,omitempty"`
	Source         string       `json:"source,omitempty"`
	// DefinitionError is a malformed .patchwell.yml: the check fails with
	// this message.
	DefinitionError string `json:"definition_error,omitempty"`
	// Note is added to the checks' descriptions ("incomplete: 2 of 3
	// patches").
	Note string `json:"note,omitempty"`
	// LeaseSeconds is how long the claim lasts without renewal.
	LeaseSeconds int `json:"lease_seconds"`
}

// RemoteStep is a Step on the wire.
type RemoteStep struct {
	Name string `json:"name"`
	Run  string `json:"run"`
}

// SetDefinition puts def (nil: none) or its error in j; other errors are
// returned.
func (j *RemoteJob) SetDefinition(def *Definition, err error) error {
	var de *DefinitionError
	if errors.As(err, &de) {
		j.DefinitionError = de.Error()
		return nil
	}
	if err != nil || def == nil {
		return err
	}
	j.Steps = nil
	for _, s := range def.Steps {
		j.Steps = append(j.Steps, RemoteStep(s))
	}
	j.TimeoutSeconds, j.Disk, j.Image, j.Source = int(def.Timeout/time.Second), def.Disk, def.Image, def.Source
	return nil
}

// Definition is the check j describes: its Steps, else its Check
// command; nil for none.
func (j *RemoteJob) Definition() *Definition {
	if len(j.Steps) == 0 {
		return CommandDefinition(j.Check, "the list's check command")
	}
	def := &Definition{Source: j.Source, Image: j.Image, Timeout: time.Duration(j.TimeoutSeconds) * time.Second, Disk: j.Disk}
	for _, s := range j.Steps {
		def.Steps = append(def.Steps, Step(s))
	}
	return def
}

// Limits is sandbox.Limits on the wire (seconds and bytes).
type Limits struct {
	CPUSeconds  int   `json:"cpu_seconds,omitempty"`
	Memory      int64 `json:"memory,omitempty"`
	Procs       int   `json:"procs,omitempty"`
	FileSize    int64 `json:"file_size,omitempty"`
	WallSeconds int   `json:"wall_seconds,omitempty"`
	Output      int   `json:"output,omitempty"`
	Disk        int64 `json:"disk,omitempty"`
}

// WireLimits converts sandbox limits for RemoteJob.
func WireLimits(l sandbox.Limits) Limits {
	return Limits{CPUSeconds: int(l.CPU / time.Second), Memory: l.Memory, Procs: l.Procs, FileSize: l.FileSize, WallSeconds: int(l.Wall / time.Second), Output: l.Output, Disk: l.Disk}
}

// Sandbox converts back; the runner's own UID settings are kept.
func (l Limits) Sandbox() sandbox.Limits {
	return sandbox.Limits{CPU: time.Duration(l.CPUSeconds) * time.Second, Memory: l.Memory, Procs: l.Procs, FileSize: l.FileSize, Wall: time.Duration(l.WallSeconds) * time.Second, Output: l.Output, Disk: l.Disk}
}

// RemoteResult is what a remote runner reports.
type RemoteResult struct {
	Runner string `json:"runner"`
	// State is done (the checks are the result, pass or fail) or failed
	// (the runner could not run the job: Error says why).
	State  string        `json:"state"`
	Error  string        `json:"error,omitempty"`
	Checks []RemoteCheck `json:"checks"`
}

// RemoteCheck is one check of a RemoteResult.
type RemoteCheck struct {
	Context     string `json:"context"`
	State       string `json:"state"`
	Description string `json:"description"`
	Log         string `json:"log,omitempty"`
}

// HandlerConfig configures Handler.
type HandlerConfig struct {
	Store Store
	// Auth checks a bearer token and names its holder; false refuses
	// the request (401).
	Auth func(ctx context.Context, token string) (name string, ok bool)
	// Describe fills a RemoteJob's MboxURL, RepoURL, Branch, Base, Check
	// and Limits for a series (the check from a trusted ref).
	Describe func(ctx context.Context, seriesID int64) (RemoteJob, error)
	Gate     GateFunc
	Lease    time.Duration // default 2m
	Logger   *slog.Logger
	Finished func(j *store.Job, state string, checks []store.Check)
}

const (
	maxResultBody = 4 << 20
	maxChecks     = 32
)

// Handler serves the remote runner protocol; mount it at /api/v1/ci/.
func Handler(cfg HandlerConfig) http.Handler {
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/ci/claim", h.auth(h.claim))
	mux.HandleFunc("POST /api/v1/ci/jobs/{id}/renew", h.auth(h.renew))
	mux.HandleFunc("POST /api/v1/ci/jobs/{id}/result", h.auth(h.result))
	return mux
}

type handler struct{ cfg HandlerConfig }

func (h *handler) auth(next func(w http.ResponseWriter, r *http.Request, owner string, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		name := ""
		if ok && tok != "" && h.cfg.Auth != nil {
			name, ok = h.cfg.Auth(r.Context(), tok)
		} else {
			ok = false
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="patchwell ci"`)
			httpError(w, http.StatusUnauthorized, "a runner token is required")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxResultBody)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			httpError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		var who struct {
			Runner string `json:"runner"`
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &who); err != nil {
				httpError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
				return
			}
		}
		if len(who.Runner) > 100 || strings.ContainsAny(who.Runner, "\x00\n/") {
			httpError(w, http.StatusBadRequest, "runner: at most 100 bytes, no '/' or newline")
			return
		}
		next(w, r, "remote:"+name+"/"+who.Runner, body)
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (h *handler) claim(w http.ResponseWriter, r *http.Request, owner string, _ []byte) {
	ctx := r.Context()
	// Jobs the gate holds are parked here, and the next one is tried.
	for range 20 {
		j, err := h.cfg.Store.ClaimJob(ctx, owner, h.cfg.Lease)
		if err != nil {
			h.cfg.Logger.Error("ci claim", slog.Any("err", err))
			httpError(w, http.StatusInternalServerError, "claim failed")
			return
		}
		if j == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !j.Released && h.cfg.Gate != nil {
			if ok, why := h.cfg.Gate(ctx, j.SeriesID); !ok {
				d := "waiting for a maintainer's go-ahead"
				if why != "" {
					d += ": " + why
				}
				checks := []store.Check{{Context: ContextCheck, State: store.CheckPending, Description: clip(d, 2000)}}
				if err := h.cfg.Store.FinishJob(ctx, j.ID, owner, store.JobHeld, "", checks); err != nil {
					h.cfg.Logger.Error("ci hold", slog.Int64("job", j.ID), slog.Any("err", err))
				} else if h.cfg.Finished != nil {
					h.cfg.Finished(j, store.JobHeld, checks)
				}
				continue
			}
		}
		rj, err := h.cfg.Describe(ctx, j.SeriesID)
		if err != nil {
			checks := []store.Check{{Context: ContextCheck, State: store.CheckWarning, Description: clip("could not describe the job: "+err.Error(), 2000)}}
			h.cfg.Store.FinishJob(ctx, j.ID, owner, store.JobFailed, err.Error(), checks)
			h.cfg.Logger.Error("ci describe", slog.Int64("job", j.ID), slog.Any("err", err))
			continue
		}
		rj.ID, rj.SeriesID, rj.Attempt, rj.LeaseSeconds = j.ID, j.SeriesID, j.Attempts, int(h.cfg.Lease/time.Second)
		h.cfg.Store.SetCheck(ctx, &store.Check{SeriesID: j.SeriesID, Context: ContextCheck, State: store.CheckPending, Description: "running on " + clip(owner, 200)})
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rj)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("bad job id %q", r.PathValue("id"))
	}
	return id, nil
}

func (h *handler) renew(w http.ResponseWriter, r *http.Request, owner string, _ []byte) {
	id, err := jobID(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.cfg.Store.RenewJob(r.Context(), id, owner, h.cfg.Lease); err != nil {
		h.leaseError(w, id, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) leaseError(w http.ResponseWriter, id int64, err error) {
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		httpError(w, http.StatusConflict, "the job is not yours (lease lapsed or finished)")
	case errors.Is(err, store.ErrInvalid):
		httpError(w, http.StatusBadRequest, err.Error())
	default:
		h.cfg.Logger.Error("ci job", slog.Int64("job", id), slog.Any("err", err))
		httpError(w, http.StatusInternalServerError, "internal error")
	}
}

func (h *handler) result(w http.ResponseWriter, r *http.Request, owner string, body []byte) {
	id, err := jobID(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	var res RemoteResult
	if err := json.Unmarshal(body, &res); err != nil {
		httpError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	if res.State != store.JobDone && res.State != store.JobFailed {
		httpError(w, http.StatusBadRequest, "state: done or failed")
		return
	}
	if len(res.Checks) > maxChecks {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("at most %d checks", maxChecks))
		return
	}
	checks := make([]store.Check, 0, len(res.Checks))
	for _, c := range res.Checks {
		// A remote runner reports only the contexts it runs.
		if c.Context != ContextApply && c.Context != ContextCheck {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("context %q: %s or %s", c.Context, ContextApply, ContextCheck))
			return
		}
		checks = append(checks, store.Check{Context: c.Context, State: c.State, Description: c.Description, Log: c.Log})
	}
	if err := h.cfg.Store.FinishJob(r.Context(), id, owner, res.State, res.Error, checks); err != nil {
		h.leaseError(w, id, err)
		return
	}
	h.cfg.Logger.Info("ci job finished", slog.Int64("job", id), slog.String("runner", owner), slog.String("state", res.State), slog.String("checks", summary(checks)))
	if h.cfg.Finished != nil {
		if j, err := h.cfg.Store.Job(r.Context(), id); err == nil {
			h.cfg.Finished(j, res.State, checks)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
