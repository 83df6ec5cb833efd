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
