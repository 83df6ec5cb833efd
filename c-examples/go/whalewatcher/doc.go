// Package whalewatcher is the Go binding (cgo) of libwhalewatcher (ABI
// version 2): the alive containers of Docker, containerd, podman and CRI
// (Kubernetes) engines, always current, answered from memory, and what
// changes as it happens.
// Its API follows the Go original, github.com/thediveo/whalewatcher: a
// Portfolio of ComposerProjects of Containers.
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
//	pf := w.Portfolio() // immutable and shared; take a new one to see changes
//	for _, name := range pf.Names() {
//		fmt.Println(pf.Project(name)) // composer project 'shop' with containers: 'web'
//	}
//
// # Engines and projects
//
// A watcher watches one engine (Options.Engine Docker, Containerd, Podman
// or CRI, at Options.Endpoint), or with Auto every engine the host runs:
// those Discover finds when the watcher starts, and again every
// Options.DiscoverInterval (DiscoverOnlyAtStart: only then).
//
//	found, err := whalewatcher.Discover() // []whalewatcher.Endpoint
//	for _, e := range found {
//		fmt.Println(e) // docker unix:///var/run/docker.sock (PID 812, found by path)
//	}
//	one, err := whalewatcher.New(found[0].Options()) // that engine alone
//	all, err := whalewatcher.New(whalewatcher.Options{Engine: whalewatcher.Auto})
//
// A Portfolio lists the watcher's engines (Engines: Kind, identity, State,
// SyncedAt, LastError, ...); each Container and ComposerProject names its
// engine by index into that list, which an engine keeps for the watcher's
// life. Projects are per engine, as the library has them (Projects).
// Names, Project and Container keep the Go original's engine-agnostic
// view: with one engine they are exactly that engine's projects; with
// several, Names lists each name once, Project(name) merges that name's
// projects of all engines, and Container finds the first match in (engine,
// project, name, ID) order. Kubernetes pods (CRI, containerd's namespace
// "k8s.io") and podman pods show in Container.Pod.
//
// # Audits and Docker over TLS
//
// Every Options.AuditInterval (60 s by default; AuditsOff: never) a
// watcher lists each engine's alive containers again and repairs where
// its picture differs (events the engine dropped, a stream gone silent),
// counting the repairs in EngineInfo.Repairs. A Docker daemon listening
// with --tlsverify is watched at https://HOST:PORT (or tcp:// with TLS
// files) with Options.TLSCA, TLSCert and TLSKey, as the docker CLI takes
// them.
//
// # Changes
//
// Every change (a container started, exited, was paused, resumed or
// changed; an engine's state changed) publishes a new generation:
//
//   - Wait(ctx, gen) blocks until a generation after gen exists;
//   - Diff(from, to) tells what changed between two Portfolios: Started,
//     Exited, Paused, Unpaused, Updated;
//   - Changes(ctx) sends batches of changes on a channel from a goroutine of
//     its own, starting with everything alive as Started; a slow receiver
//     gets the changes meanwhile folded into its next batch.
//
// # Concurrency and memory
//
// The library watches in its own thread. Watcher methods may be called from
// any goroutine at the same time, Close too: it wakes every Ready, Wait and
// Changes in progress at once (they end with ErrClosed, or a closed
// channel), then releases the watcher. Portfolios and Changes are
// immutable Go values, safe to share: no C memory is reachable from them.
// Portfolio converts each generation once and hands every caller the same
// *Portfolio until the next (without allocating); the next shares the
// Containers and projects that did not change. Read them, never modify
// them (nor a Container's Labels): the slices that methods return are
// the caller's own copies, but what they point to is everyone's.
// In a child process forked (without exec, which only C code in the
// process can do) after New, Ready and Wait return ErrForked.
// Build with pkg-config finding whalewatcher.pc, e.g.
//
//	PKG_CONFIG_PATH=$STAGE/lib/pkgconfig CGO_LDFLAGS=-Wl,-rpath,$STAGE/lib go build ./...
//
// after `make install PREFIX=$STAGE` in the library's repository.
package whalewatcher
