// Command watch prints the alive containers of a Docker or containerd
// engine, grouped by engine and compose project, as libwhalewatcher sees
// them; with --follow, every change as it happens. It is the Go twin of
// c-examples/watch.c, with the same output.
//
// Usage: watch [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]
//
// ENDPOINT is e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375 for
// Docker, a socket path for containerd; without it, the engine's default
// (DOCKER_HOST or unix:///var/run/docker.sock; CONTAINERD_ADDRESS or
// /run/containerd/containerd.sock).
//
// --watch N: afterwards, look again every second, N times, and print the
// containers again whenever they changed (their generation grew).
//
// --follow: afterwards, keep running and print one line per change as it
// happens, until SIGINT or SIGTERM (exit status 0): "+ started NAME (ID
// ID, PID PID)", "- exited NAME (...)", "~ paused NAME (...)", "~ unpaused
// NAME (...)", "~ updated NAME (...)", and "! engine ENDPOINT STATE[: LAST
// ERROR]" when an engine's state or trouble changes.
//
// It exits with status 1 when nothing can change anymore (every engine gave
// up under the backoff policy).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"whalewatcher.local/go/whalewatcher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr, time.Second)
	stop()
	os.Exit(code)
}

// run is main, testable: it returns the exit code. interval is the pause
// between two looks with --watch; the end of ctx ends --follow.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, interval time.Duration) int {
	prog := "watch"
	if len(args) > 0 {
		prog = args[0]
	}
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]\n", prog)
		return 2
	}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	engine := fs.String("engine", "docker", "docker or containerd")
	rounds := fs.Int("watch", 0, "look again every second, N times")
	following := fs.Bool("follow", false, "print every change as it happens")
	if err := fs.Parse(args[1:]); err != nil || *rounds < 0 || fs.NArg() > 1 || (*following && *rounds > 0) {
		return usage()
	}
	opts := whalewatcher.Options{Endpoint: fs.Arg(0)} // "": the default
	switch *engine {
	case "docker":
		opts.Engine = whalewatcher.Docker
	case "containerd":
		opts.Engine = whalewatcher.Containerd
	default:
		return usage()
	}

	w, err := whalewatcher.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "cannot watch: %s\n", describe(err))
		return 1
	}
	defer w.Close()
	if err := w.ReadyWithin(10 * time.Second); err != nil {
		fmt.Fprintf(stderr, "engine not ready: %s\n", describe(err))
		return 1
	}

	p := w.Portfolio()
	printPortfolio(stdout, p)
	if *following {
		return follow(ctx, w, p, stdout, stderr)
	}
	for ; *rounds > 0; *rounds-- {
		time.Sleep(interval)
		if now := w.Portfolio(); now.Generation != p.Generation {
			fmt.Fprintln(stdout)
			printPortfolio(stdout, now)
			p = now
		}
	}
	return 0
}

// follow prints every change after portfolio shown until ctx ends (exit
// code 0), or nothing can change anymore (1).
func follow(ctx context.Context, w *whalewatcher.Watcher, shown *whalewatcher.Portfolio, stdout, stderr io.Writer) int {
	for {
		// Wait, then look: whatever is published after Wait returned makes
		// the next Wait return at once, so nothing is missed. Several
		// changes may fold into one wake-up.
		_, err := w.Wait(ctx, shown.Generation)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintf(stderr, "nothing changes anymore: %s\n", describe(err))
			return 1
		}
		now := w.Portfolio()
		if now == nil {
			fmt.Fprintln(stderr, "nothing changes anymore: the watcher is closed")
			return 1
		}
		printChanges(stdout, shown, now)
		shown = now
	}
}

// printChanges prints the lines for what changed from portfolio from to
// portfolio to: engine states first, then the containers' changes.
func printChanges(out io.Writer, from, to *whalewatcher.Portfolio) {
	// A watcher's engines stay the same, at the same index, for its life.
	was, now := from.Engines(), to.Engines()
	for i := 0; i < len(was) && i < len(now); i++ {
		if was[i].State != now[i].State || was[i].LastError != now[i].LastError {
			fmt.Fprintf(out, "! engine %s %s%s\n", now[i].Endpoint, now[i].State, withError(now[i].LastError))
		}
	}
	for _, c := range whalewatcher.Diff(from, to) {
		switch c.Kind {
		case whalewatcher.Started:
			printChange(out, '+', c.Kind, to, c.After)
		case whalewatcher.Exited:
			printChange(out, '-', c.Kind, from, c.Before)
		default:
			printChange(out, '~', c.Kind, to, c.After)
		}
	}
}

func printChange(out io.Writer, mark rune, kind whalewatcher.ChangeKind, p *whalewatcher.Portfolio, c *whalewatcher.Container) {
	fmt.Fprintf(out, "%c %s %s (ID %s, PID %d)\n", mark, kind, c.Name, shortID(p, c), c.PID)
}

// describe formats an error like watch.c: "STATUS: MESSAGE".
func describe(err error) string {
	var e *whalewatcher.Error
	if errors.As(err, &e) {
		return e.Status.String() + ": " + e.Message
	}
	return err.Error()
}

func withError(lastError string) string {
	if lastError == "" {
		return ""
	}
	return ": " + lastError
}

// shortID is the container's ID as shown: Docker's IDs are 64 hex digits,
// shown abbreviated as docker does; containerd's are names, shown in full.
func shortID(p *whalewatcher.Portfolio, c *whalewatcher.Container) string {
	if engines := p.Engines(); c.Engine < len(engines) && engines[c.Engine].Kind == whalewatcher.Docker && len(c.ID) > 12 {
		return c.ID[:12] // like printf's %.12s: bytes
	}
	return c.ID
}

func printPortfolio(out io.Writer, p *whalewatcher.Portfolio) {
	for i, e := range p.Engines() {
		// Version and PID are unknown until the first contact (the PID
		// also over TCP).
		version, pid := "", ""
		if e.Version != "" {
			version = " " + e.Version
		}
		if e.PID > 0 {
			pid = fmt.Sprintf(" (PID %d)", e.PID)
		}
		fmt.Fprintf(out, "engine %s%s at %s%s, %s%s, generation %d\n",
			e.Type, version, e.Endpoint, pid, e.State, withError(e.LastError), p.Generation)
		shown := 0
		for _, project := range p.Projects() {
			containers := project.Containers()
			// Each engine's unnamed project is always there, maybe empty.
			if project.Engine != i || len(containers) == 0 {
				continue
			}
			if project.Name == "" {
				fmt.Fprintln(out, `project "" (unnamed):`)
			} else {
				fmt.Fprintf(out, "project \"%s\":\n", project.Name)
			}
			for _, c := range containers {
				paused := ""
				if c.Paused {
					paused = "paused "
				}
				fmt.Fprintf(out, "  %scontainer '%s' (ID %s, PID %d)\n", paused, c.Name, shortID(p, c), c.PID)
			}
			shown += len(containers)
		}
		if shown == 0 {
			fmt.Fprintln(out, "no alive containers")
		}
	}
}
