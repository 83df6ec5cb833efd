package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"watch", "--bogus"},
		{"watch", "a", "b"},
		{"watch", "--watch", "-1"},
		{"watch", "--watch", "x"},
		{"watch", "--engine", "podman"},
		{"watch", "--watch", "2", "--follow"},
		{"watch", "--follow=nonsense"},
	} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), args, &out, &errs, time.Millisecond); code != 2 || out.Len() != 0 ||
			!strings.HasPrefix(errs.String(), "usage: watch [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errs.String())
		}
	}
}

func TestBadEndpoint(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"watch", "ftp://nowhere"}, &out, &errs, time.Millisecond); code != 1 ||
		!strings.HasPrefix(errs.String(), "cannot watch: invalid argument: ww_new: ") {
		t.Errorf("exit %d, stderr %q", code, errs.String())
	}
}

func docker(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"-H", endpoint}, args...)...)
	cmd.Env = childEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// childEnv is the environment without GODEBUG: the tests may run with
// GODEBUG=cgocheck=2, which the docker CLI (built with a newer Go) refuses.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	return env
}

// Against the Docker engine of WW_TEST_DOCKER_ENDPOINT: the output has the
// format of c-examples/watch.c and, when WW_TEST_C_WATCH names the built C
// example, is the same as its output.
func TestWatchDocker(t *testing.T) {
	ep := os.Getenv("WW_TEST_DOCKER_ENDPOINT")
	if ep == "" {
		t.Skip("WW_TEST_DOCKER_ENDPOINT not set")
	}
	sfx := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff)
	project, nameA, nameB := "wwgo-watch-"+sfx, "wwgo-wa-"+sfx, "wwgo-wb-"+sfx
	t.Cleanup(func() {
		cmd := exec.Command("docker", "-H", ep, "rm", "-f", nameA, nameB)
		cmd.Env = childEnv()
		_ = cmd.Run()
	})
	idA := docker(t, ep, "run", "-d", "--network", "none", "--name", nameA,
		"--label", "com.docker.compose.project="+project, "busybox:local", "/bin/sleep", "100000")
	docker(t, ep, "pause", nameA)
	pidA := docker(t, ep, "inspect", "-f", "{{.State.Pid}}", nameA)

	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"watch", ep}, &out, &errs, time.Millisecond); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	text := out.String()
	header := regexp.MustCompile(`^engine docker\.com \S+ at ` + regexp.QuoteMeta(ep) + ` \(PID [1-9][0-9]*\), synced, generation [1-9][0-9]*\n`)
	if !header.MatchString(text) {
		t.Errorf("bad header in:\n%s", text)
	}
	want := fmt.Sprintf("project \"%s\":\n  paused container '%s' (ID %s, PID %s)\n", project, nameA, idA[:12], pidA)
	if !strings.Contains(text, want) {
		t.Errorf("no\n%s in:\n%s", want, text)
	}
	if cwatch := os.Getenv("WW_TEST_C_WATCH"); cwatch != "" {
		// Other tests may change the engine between the two runs: retry.
		for try := 1; ; try++ {
			c, err := exec.Command(cwatch, ep).Output()
			if err != nil {
				t.Fatalf("%s: %v", cwatch, err)
			}
			if string(c) == text {
				break
			}
			if try == 5 {
				t.Fatalf("the C example prints\n%s\nthe Go one\n%s", c, text)
			}
			out.Reset()
			if code := run(context.Background(), []string{"watch", ep}, &out, &errs, time.Millisecond); code != 0 {
				t.Fatalf("exit %d: %s", code, errs.String())
			}
			text = out.String()
		}
	}

	// --watch: prints again when something changed.
	var wout, werrs syncBuffer
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"watch", "--watch", "60", ep}, &wout, &werrs, 100*time.Millisecond)
	}()
	for start := time.Now(); !strings.Contains(wout.String(), "generation"); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("--watch printed nothing: %s", werrs.String())
		}
	}
	idB := docker(t, ep, "run", "-d", "--network", "none", "--name", nameB, "busybox:local", "/bin/sleep", "100000")
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, werrs.String())
	}
	pidB := docker(t, ep, "inspect", "-f", "{{.State.Pid}}", nameB)
	// Other tests may run containers on the same engine meanwhile.
	parts := strings.Split(wout.String(), "\n\n")
	lineB := fmt.Sprintf("  container '%s' (ID %s, PID %s)", nameB, idB[:12], pidB)
	if len(parts) < 2 || strings.Contains(parts[0], nameB) ||
		!contains(sections(parts[len(parts)-1])[`project "" (unnamed):`], lineB) {
		t.Errorf("--watch printed no\n%s\nin the unnamed project at last:\n%s", lineB, wout.String())
	}
}

// --follow prints one line per change of a container, each once, in
// order, the same lines as the C example's --follow (when WW_TEST_C_WATCH
// names it), and ends with exit code 0 when its context ends (SIGINT or
// SIGTERM in main).
func TestFollowDocker(t *testing.T) {
	ep := os.Getenv("WW_TEST_DOCKER_ENDPOINT")
	if ep == "" {
		t.Skip("WW_TEST_DOCKER_ENDPOINT not set")
	}
	sfx := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffff)
	name, renamed := "wwgo-wf-"+sfx, "wwgo-wf-"+sfx+"-x"
	t.Cleanup(func() {
		cmd := exec.Command("docker", "-H", ep, "rm", "-f", name, renamed)
		cmd.Env = childEnv()
		_ = cmd.Run()
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "--follow", ep}, &out, &errs, time.Second) }()
	waitFor(t, &out, "generation")
	var cout syncBuffer
	var cfollow *exec.Cmd
	if cwatch := os.Getenv("WW_TEST_C_WATCH"); cwatch != "" {
		cfollow = exec.Command(cwatch, "--follow", ep)
		cfollow.Stdout = &cout
		if err := cfollow.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cfollow.Process.Kill(); _ = cfollow.Wait() }()
		waitFor(t, &cout, "generation")
	}

	id := docker(t, ep, "run", "-d", "--network", "none", "--name", name, "busybox:local", "/bin/sleep", "100000")
	pid := docker(t, ep, "inspect", "-f", "{{.State.Pid}}", id)
	about := fmt.Sprintf(" (ID %s, PID %s)", id[:12], pid)
	want := []string{"+ started " + name + about}
	waitFor(t, &out, want[0])
	for _, step := range []struct {
		args []string
		line string
	}{
		{[]string{"pause", name}, "~ paused " + name + about},
		{[]string{"unpause", name}, "~ unpaused " + name + about},
		{[]string{"rename", name, renamed}, "~ updated " + renamed + about},
		{[]string{"kill", renamed}, "- exited " + renamed + about},
	} {
		docker(t, ep, step.args...)
		want = append(want, step.line)
		waitFor(t, &out, step.line)
	}
	time.Sleep(300 * time.Millisecond) // anything twice would show now
	if got := linesWith(out.String(), about); !reflect.DeepEqual(got, want) {
		t.Errorf("--follow printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 || errs.String() != "" {
			t.Errorf("exit %d, stderr %q", code, errs.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("--follow goes on after its context ended")
	}
	if cfollow != nil {
		waitFor(t, &cout, want[len(want)-1])
		if c := linesWith(cout.String(), about); !reflect.DeepEqual(c, want) {
			t.Errorf("the C example printed\n%s\nthe Go one\n%s", strings.Join(c, "\n"), strings.Join(want, "\n"))
		}
	}
}

// waitFor waits until out shows text.
func waitFor(t *testing.T, out *syncBuffer, text string) {
	t.Helper()
	for start := time.Now(); !strings.Contains(out.String(), text); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no %q in:\n%s", text, out.String())
		}
	}
}

// linesWith returns the lines of text that contain s.
func linesWith(text, s string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// sections splits one printed portfolio into its project headers and
// their container lines.
func sections(text string) map[string][]string {
	m := map[string][]string{}
	header := ""
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "project ") {
			header = line
		} else if strings.HasPrefix(line, "  ") {
			m[header] = append(m[header], line)
		}
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
