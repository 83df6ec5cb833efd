// Package whalewatcher is the Go binding (cgo) of libwhalewatcher: the
// alive containers of a Docker or containerd engine, always current,
// answered from memory. Its API follows the Go original,
// github.com/thediveo/whalewatcher: a Portfolio of ComposerProjects of
// Containers.
//
//	w, err := whalewatcher.New(whalewatcher.Options{
//		Engine:   whalewatcher.Docker,
//		Endpoint: "unix:///var/run/docker.sock",
//	})
//	if err != nil {
//		return err // *whalewatcher.Error; errors.Is(err, whalewatcher.ErrInvalidArg)
//	}
//	defer w.Close()
//	if err := w.Ready(ctx); err != nil {
//		return err // errors.Is(err, whalewatcher.ErrEngine): gave up
//	}
//	pf := w.Portfolio() // a Go copy; take a new one to see changes
//	for _, name := range pf.Names() {
//		fmt.Println(pf.Project(name)) // composer project 'shop' with containers: 'web'
//	}
//
// The library watches in its own thread. Watcher methods may be called from
// any goroutine at the same time; Portfolios are immutable Go values, safe
// to share. Build with pkg-config finding whalewatcher.pc, e.g.
//
//	PKG_CONFIG_PATH=$STAGE/lib/pkgconfig CGO_LDFLAGS=-Wl,-rpath,$STAGE/lib go build ./...
//
// after `make install PREFIX=$STAGE` in the library's repository.
package whalewatcher
