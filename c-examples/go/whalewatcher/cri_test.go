package whalewatcher

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A CRI watcher shows a pod's sandbox by the pod's name and its
// containers by their names in the pod, with the pod's identity and the
// PIDs the runtime tells.
func TestCRIPod(t *testing.T) {
	cri := needCRI(t)
	w := readyWatcher(t, Options{Engine: CRI, Endpoint: cri.endpoint})
	pf := w.Portfolio()
	e := onlyEngine(t, pf)
	if e.Kind != CRI || e.Kind.String() != "cri" || e.Type != "k8s.io/cri-api" || e.Endpoint != cri.endpoint {
		t.Errorf("engine %+v", e)
	}
	// CRI has no engine ID: the host's name stands in.
	if host, err := os.Hostname(); err != nil || e.ID != host {
		t.Errorf("engine ID %q, host name %q (%v)", e.ID, host, err)
	}
	// "RUNTIME VERSION", e.g. "containerd 1.7.24".
	if runtime, version, ok := strings.Cut(e.Version, " "); !ok || runtime == "" || version == "" {
		t.Errorf("engine version %q", e.Version)
	}
	if e.PID <= 0 {
		t.Errorf("no engine PID: %+v", e)
	}
	checkSynced(t, e)

	sandbox := pf.Container(cri.sandboxID)
	wantPod := cri.pod
	wantPod.Sandbox = true
	if sandbox == nil || sandbox.Name != cri.pod.Name || sandbox.Pod != wantPod || sandbox.PID != cri.sandboxPID ||
		sandbox.Engine != 0 || sandbox.Paused {
		t.Errorf("sandbox %+v; want name %s, pod %+v, PID %d", sandbox, cri.pod.Name, wantPod, cri.sandboxPID)
	}
	app := pf.Container(cri.containerID)
	if app == nil || app.Name != "app" || app.Pod != cri.pod || app.PID != cri.containerPID || app.Engine != 0 ||
		app.Paused || app.Project != "" {
		t.Fatalf("container %+v; want app, pod %+v, PID %d", app, cri.pod, cri.containerPID)
	}
	if app.Image == "" || app.StartedAt.IsZero() {
		t.Errorf("container app without image or start time: %+v", app)
	}
	// Kubernetes' labels are there as the runtime has them.
	if app.Labels["io.kubernetes.pod.name"] != cri.pod.Name || app.Labels["io.kubernetes.pod.uid"] != cri.pod.UID {
		t.Errorf("labels %v", app.Labels)
	}
	// Both are in the engine's unnamed project.
	if p := pf.Project(""); p.Container(cri.sandboxID) != sandbox || p.Container(cri.containerID) != app {
		t.Errorf("unnamed project %v", p)
	}
	checkConsistent(t, pf)

	// Relisting more often changes nothing of what is shown.
	fast := readyWatcher(t, Options{Engine: CRI, Endpoint: cri.endpoint, RelistInterval: 100 * time.Millisecond})
	if c := fast.Portfolio().Container(cri.containerID); c == nil || !reflect.DeepEqual(*c, *app) {
		t.Errorf("relisting every 100ms: %+v, want %+v", c, app)
	}
}
