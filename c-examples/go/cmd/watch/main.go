// Command watch prints the alive containers of a Docker or containerd
// engine, grouped by compose project, as libwhalewatcher sees them: the Go
// twin of c-examples/watch.c, with the same output.
//
// Usage: watch [--engine docker|containerd] [--watch N] [ENDPOINT]
//
// ENDPOINT is e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375 for
// Docker, a socket path for containerd; without it, the engine's default
// (DOCKER_HOST or unix:///var/run/docker.sock; CONTAINERD_ADDRESS or
// /run/containerd/containerd.sock). --watch N: afterwards, look again every
// second, N times, and print the containers again whenever they changed
// (their generation grew).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"whalewatcher.local/go/whalewatcher"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr, time.Second))
}

// run is main, testable: it returns the exit code. interval is the pause
// between two looks with --watch.
func run(args []string, stdout, stderr io.Writer, interval time.Duration) int {
	prog := "watch"
	if len(args) > 0 {
		prog = args[0]
	}
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s [--engine docker|containerd] [--watch N] [ENDPOINT]\n", prog)
		return 2
	}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	engine := fs.String("engine", "docker", "docker or containerd")
	rounds := fs.Int("watch", 0, "look again every second, N times")
	if err := fs.Parse(args[1:]); err != nil || *rounds < 0 || fs.NArg() > 1 {
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
	shown := p.Generation
	for ; *rounds > 0; *rounds-- {
		time.Sleep(interval)
		if p = w.Portfolio(); p.Generation != shown {
			fmt.Fprintln(stdout)
			printPortfolio(stdout, p)
			shown = p.Generation
		}
	}
	return 0
}

// describe formats an error like watch.c: "STATUS: MESSAGE".
func describe(err error) string {
	var e *whalewatcher.Error
	if errors.As(err, &e) {
		return e.Status.String() + ": " + e.Message
	}
	return err.Error()
}

func printPortfolio(out io.Writer, p *whalewatcher.Portfolio) {
	engines := p.Engines()
	for _, e := range engines {
		fmt.Fprintf(out, "engine %s %s at %s (PID %d), generation %d\n",
			e.Type, e.Version, e.Endpoint, e.PID, p.Generation)
	}
	if p.ContainerTotal() == 0 {
		fmt.Fprintln(out, "no alive containers")
	}
	for _, project := range p.Projects() {
		containers := project.Containers()
		if project.Name == "" {
			if len(containers) == 0 {
				continue // each engine's unnamed project is always there, maybe empty
			}
			fmt.Fprintln(out, `project "" (unnamed):`)
		} else {
			fmt.Fprintf(out, "project \"%s\":\n", project.Name)
		}
		// Docker's IDs are 64 hex digits, shown abbreviated as docker
		// does; containerd's are names, shown in full.
		abbreviate := engines[project.Engine].Type == "docker.com"
		for _, c := range containers {
			paused := ""
			if c.Paused {
				paused = "paused "
			}
			id := c.ID
			if abbreviate && len(id) > 12 {
				id = id[:12]
			}
			fmt.Fprintf(out, "  %scontainer '%s' (ID %s, PID %d)\n", paused, c.Name, id, c.PID)
		}
	}
}
