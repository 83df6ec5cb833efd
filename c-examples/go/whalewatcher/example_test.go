package whalewatcher_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"whalewatcher.local/go/whalewatcher"
)

// Watch the local Docker engine and print its compose projects.
func Example() {
	w, err := whalewatcher.New(whalewatcher.Options{
		Engine:   whalewatcher.Docker,
		Endpoint: "unix:///var/run/docker.sock",
		Backoff:  whalewatcher.BackoffNone,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Ready(ctx); errors.Is(err, whalewatcher.ErrEngine) {
		fmt.Println("no engine:", err)
		return
	}
	pf := w.Portfolio()
	for _, name := range pf.Names() {
		fmt.Println(pf.Project(name))
	}
	for _, c := range pf.Project("").Containers() {
		fmt.Println(c) // e.g. container 'web'/1234... with PID 42
	}
}

// Print every change of the containers of the local Docker engine for a
// minute.
func ExampleWatcher_Changes() {
	w, err := whalewatcher.New(whalewatcher.Options{Endpoint: "unix:///var/run/docker.sock"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The first batch has every container alive at the start, as Started.
	for batch := range w.Changes(ctx) {
		for _, change := range batch {
			fmt.Println(change) // e.g. paused: paused container 'web'/1234... with PID 42
		}
	}
}

// Wait for the next change, then tell what it was.
func ExampleWatcher_Wait() {
	w, err := whalewatcher.New(whalewatcher.Options{Endpoint: "unix:///var/run/docker.sock"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Ready(ctx); err != nil {
		fmt.Println(err)
		return
	}
	before := w.Portfolio()
	if _, err := w.Wait(ctx, before.Generation); err != nil {
		fmt.Println(err) // errors.Is(err, context.DeadlineExceeded): nothing happened
		return
	}
	after := w.Portfolio()
	for _, change := range whalewatcher.Diff(before, after) {
		fmt.Println(change.Kind, change.Container().Name)
	}
	for _, e := range after.Engines() {
		fmt.Println(e.Endpoint, e.State) // e.g. unix:///var/run/docker.sock synced
	}
}
