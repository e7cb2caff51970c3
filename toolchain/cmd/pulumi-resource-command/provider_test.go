package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const testURN = "urn:pulumi:dev::proj::command:local:Command::step"

type capture struct {
	mu    sync.Mutex
	lines []string
}

func (c *capture) log(_ context.Context, urn resource.URN, line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, string(urn.Name())+": "+line)
}

func (c *capture) all() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

func newTestServer() (*server, *capture) {
	c := &capture{}
	return newServer(c.log), c
}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	return marshalMap(t, resource.NewPropertyMapFromMap(m))
}

func marshalMap(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, marshalOpts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unmarshalT(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkAndCreate runs Check then Create, as the engine does, and returns the state.
func checkAndCreate(t *testing.T, s *server, inputs *structpb.Struct, preview bool) *structpb.Struct {
	t.Helper()
	chk, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: inputs})
	if err != nil || len(chk.Failures) > 0 {
		t.Fatalf("check: %v %v", err, chk.GetFailures())
	}
	resp, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: chk.Inputs, Preview: preview})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !preview && !strings.HasPrefix(resp.Id, "step") {
		t.Errorf("id %q: want the resource name plus random hex", resp.Id)
	}
	return resp.Properties
}

func str(m resource.PropertyMap, k string) string { return plainString(m[resource.PropertyKey(k)]) }

func TestCheckDefaultsAndFailures(t *testing.T) {
	s, _ := newTestServer()
	chk, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: props(t, map[string]any{"create": "true"})})
	if err != nil || len(chk.Failures) != 0 {
		t.Fatal(err, chk.GetFailures())
	}
	if v := unmarshalT(t, chk.Inputs)["addPreviousOutputInEnv"]; !v.IsBool() || !v.BoolValue() {
		t.Errorf("addPreviousOutputInEnv default: got %v, want true", v)
	}
	chk, err = s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN,
		News: props(t, map[string]any{"create": 3, "bogus": "x", "assetPaths": []any{"*"}})})
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Failures) != 3 {
		t.Errorf("want 3 failures (create type, bogus, assetPaths), got %v", chk.Failures)
	}
}

func TestCreateCapturesStdoutAndLogs(t *testing.T) {
	s, logs := newTestServer()
	dir := t.TempDir()
	state := unmarshalT(t, checkAndCreate(t, s, props(t, map[string]any{
		"create":      "echo hello; echo warn >&2; cat; pwd",
		"dir":         dir,
		"stdin":       "from-stdin\n",
		"environment": map[string]any{"X": "1"},
		"triggers":    []any{"a", 1.0},
	}), false))
	if got, want := str(state, "stdout"), "hello\nfrom-stdin\n"+dir; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := str(state, "stderr"); got != "warn" {
		t.Errorf("stderr %q", got)
	}
	for _, k := range []string{"create", "dir", "stdin", "environment", "triggers", "addPreviousOutputInEnv"} {
		if _, ok := state[resource.PropertyKey(k)]; !ok {
			t.Errorf("output %q missing (outputs are the inputs plus stdout/stderr)", k)
		}
	}
	if l := logs.all(); !strings.Contains(l, "step: hello") || !strings.Contains(l, "step: warn") {
		t.Errorf("logs: %q", l)
	}

	// logging: stdout only / none.
	s, logs = newTestServer()
	checkAndCreate(t, s, props(t, map[string]any{"create": "echo out; echo err >&2", "logging": "stdout"}), false)
	if l := logs.all(); l != "step: out" {
		t.Errorf("logging=stdout logged %q", l)
	}
	s, logs = newTestServer()
	checkAndCreate(t, s, props(t, map[string]any{"create": "echo out; echo err >&2", "logging": "none", "interpreter": []any{"/bin/bash", "-c"}}), false)
	if l := logs.all(); l != "" {
		t.Errorf("logging=none logged %q", l)
	}
}

func diffResp(t *testing.T, s *server, olds, news *structpb.Struct, ignore ...string) *pulumirpc.DiffResponse {
	t.Helper()
	r, err := s.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, Olds: olds, News: news, IgnoreChanges: ignore})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDiff(t *testing.T) {
	s, _ := newTestServer()
	state := checkAndCreate(t, s, props(t, map[string]any{"create": "echo v1", "triggers": []any{"r1"}}), false)
	news := func(m map[string]any) *structpb.Struct {
		m["addPreviousOutputInEnv"] = true // as Check returns them
		return props(t, m)
	}

	r := diffResp(t, s, state, news(map[string]any{"create": "echo v1", "triggers": []any{"r1"}}))
	if r.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("equal inputs: %v", r)
	}
	r = diffResp(t, s, state, news(map[string]any{"create": "echo v1", "triggers": []any{"r2"}}))
	if r.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(r.Replaces) == 0 ||
		r.DetailedDiff["triggers[0]"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Errorf("trigger change must replace: %v", r)
	}
	r = diffResp(t, s, state, news(map[string]any{"create": "echo v1"}))
	if r.DetailedDiff["triggers"].GetKind() != pulumirpc.PropertyDiff_DELETE_REPLACE {
		t.Errorf("removing triggers must replace: %v", r)
	}
	r = diffResp(t, s, state, news(map[string]any{"create": "echo v2", "triggers": []any{"r1"}}))
	if r.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(r.Replaces) != 0 ||
		r.DetailedDiff["create"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Errorf("create change must update: %v", r)
	}
	r = diffResp(t, s, state, news(map[string]any{"create": "echo v2", "triggers": []any{"r1"}}), "create")
	if r.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("ignoreChanges create: %v", r)
	}
	r = diffResp(t, s, state, news(map[string]any{"create": "echo v1", "triggers": []any{"r1"}, "environment": map[string]any{"A": "b"}}))
	if r.DetailedDiff["environment"].GetKind() != pulumirpc.PropertyDiff_ADD || len(r.Replaces) != 0 {
		t.Errorf("adding environment must update: %v", r)
	}
}

func TestUpdate(t *testing.T) {
	s, _ := newTestServer()
	state := checkAndCreate(t, s, props(t, map[string]any{"create": "echo first; echo e1 >&2"}), false)
	update := func(m map[string]any) resource.PropertyMap {
		t.Helper()
		chk, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: props(t, m)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: testURN, Id: "x", Olds: state, News: chk.Inputs})
		if err != nil {
			t.Fatal(err)
		}
		return unmarshalT(t, r.Properties)
	}
	out := update(map[string]any{"create": "echo first-changed", "update": `echo "prev=$PULUMI_COMMAND_STDOUT err=$PULUMI_COMMAND_STDERR"`})
	if got := str(out, "stdout"); got != "prev=first err=e1" {
		t.Errorf("update stdout %q", got)
	}
	out = update(map[string]any{"create": `echo "create again, prev=$PULUMI_COMMAND_STDOUT"`})
	if got := str(out, "stdout"); got != "create again, prev=first" {
		t.Errorf("no update command: create must run again, got %q", got)
	}
	out = update(map[string]any{"create": `echo "prev=${PULUMI_COMMAND_STDOUT-unset}"`, "addPreviousOutputInEnv": false})
	if got := str(out, "stdout"); got != "prev=unset" {
		t.Errorf("addPreviousOutputInEnv=false: %q", got)
	}
	// Preview: nothing runs, stdout/stderr unknown.
	marker := filepath.Join(t.TempDir(), "ran")
	r, err := s.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: testURN, Id: "x", Olds: state, Preview: true,
		News: props(t, map[string]any{"create": "touch " + marker, "addPreviousOutputInEnv": true})})
	if err != nil {
		t.Fatal(err)
	}
	if m := unmarshalT(t, r.Properties); !m["stdout"].IsComputed() || !m["stderr"].IsComputed() {
		t.Errorf("preview update: stdout/stderr should be unknown: %v", m)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("preview update ran the command")
	}
}

func TestDelete(t *testing.T) {
	s, _ := newTestServer()
	out := filepath.Join(t.TempDir(), "deleted")
	state := checkAndCreate(t, s, props(t, map[string]any{"create": "echo made", "delete": `echo "gone $PULUMI_COMMAND_STDOUT" > ` + out}), false)
	if _, err := s.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: testURN, Id: "x", Properties: state}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "gone made\n" {
		t.Errorf("delete output %q %v", b, err)
	}
	// Without `delete` nothing runs.
	state = checkAndCreate(t, s, props(t, map[string]any{"create": "true"}), false)
	if _, err := s.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: testURN, Id: "x", Properties: state}); err != nil {
		t.Fatal(err)
	}
}

func TestFailingCommand(t *testing.T) {
	s, _ := newTestServer()
	_, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, map[string]any{"create": "echo out; echo oops >&2; exit 3"})})
	if err == nil {
		t.Fatal("want an error")
	}
	// stdout and stderr are interleaved as they arrive, so their order may vary.
	prefix := "exit status 3: running \"echo out; echo oops >&2; exit 3\":\n"
	if e := err.Error(); !strings.HasPrefix(e, prefix) || !strings.Contains(e, "\nout\n") || !strings.Contains(e, "\noops\n") {
		t.Errorf("error\n%q\nwant %q followed by the output", e, prefix)
	}
	t.Logf("error text: %s", err)
	_, err = s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, map[string]any{"create": "true", "dir": "/does/not/exist"})})
	if err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Errorf("missing dir: %v", err)
	}
}

func TestPreviewCreate(t *testing.T) {
	s, logs := newTestServer()
	marker := filepath.Join(t.TempDir(), "ran")
	inputs := resource.PropertyMap{
		"create":   resource.NewStringProperty("touch " + marker),
		"triggers": resource.NewArrayProperty([]resource.PropertyValue{resource.MakeComputed(resource.NewStringProperty(""))}),
	}
	m := unmarshalT(t, checkAndCreate(t, s, marshalMap(t, inputs), true))
	if !m["stdout"].IsComputed() || !m["stderr"].IsComputed() {
		t.Errorf("preview create: stdout/stderr should be unknown: %v", m)
	}
	if !m["triggers"].ArrayValue()[0].IsComputed() || str(m, "create") != "touch "+marker {
		t.Errorf("preview create: inputs should pass through: %v", m)
	}
	if _, err := os.Stat(marker); err == nil || logs.all() != "" {
		t.Error("preview create ran the command")
	}
}

func TestSecrets(t *testing.T) {
	s, logs := newTestServer()
	inputs := resource.PropertyMap{
		"create": resource.NewStringProperty(`echo "token is $TOKEN"`),
		"environment": resource.NewObjectProperty(resource.PropertyMap{
			"TOKEN": resource.MakeSecret(resource.NewStringProperty("s3cr3t-value")),
			"PLAIN": resource.NewStringProperty("p"),
		}),
	}
	m := unmarshalT(t, checkAndCreate(t, s, marshalMap(t, inputs), false))
	env := m["environment"].ObjectValue()
	if !env["TOKEN"].IsSecret() || env["PLAIN"].IsSecret() {
		t.Errorf("environment output should keep the input's secretness: %v", m["environment"])
	}
	// As the real provider (infer's default wiring: secretness flows only to the
	// output of the same name), stdout/stderr are not secret.
	if m["stdout"].IsSecret() || m["stderr"].IsSecret() || str(m, "stdout") != "token is s3cr3t-value" {
		t.Errorf("stdout: %v", m["stdout"])
	}
	if l := logs.all(); strings.Contains(l, "s3cr3t") || !strings.Contains(l, "token is [secret]") {
		t.Errorf("log leaks or misses the line: %q", l)
	}
	// A secret command: kept secret in the outputs, masked in errors.
	inputs = resource.PropertyMap{"create": resource.MakeSecret(resource.NewStringProperty("exit 1 # hunter2-pw"))}
	_, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: marshalMap(t, inputs)})
	if err == nil || strings.Contains(err.Error(), "hunter2-pw") || !strings.HasPrefix(err.Error(), "exit status 1: running \"[secret]\"") {
		t.Errorf("error: %v", err)
	}
	inputs = resource.PropertyMap{"create": resource.MakeSecret(resource.NewStringProperty("echo ok"))}
	if m := unmarshalT(t, checkAndCreate(t, s, marshalMap(t, inputs), false)); !m["create"].IsSecret() || m["stdout"].IsSecret() {
		t.Errorf("secret create: %v", m)
	}
}

func TestCancelStopsRunningCommand(t *testing.T) {
	s, _ := newTestServer()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
			Properties: props(t, map[string]any{"create": "exec sleep 30"})})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := s.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("cancelled create: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Cancel did not stop the command")
	}
}

func TestPluginInfoAndConfig(t *testing.T) {
	s, _ := newTestServer()
	info, _ := s.GetPluginInfo(context.Background(), &emptypb.Empty{})
	if info.Version != version {
		t.Errorf("version %q", info.Version)
	}
	if _, err := s.Configure(context.Background(), &pulumirpc.ConfigureRequest{}); err != nil {
		t.Error(err)
	}
	if _, err := s.Check(context.Background(), &pulumirpc.CheckRequest{Urn: "urn:pulumi:dev::proj::command:remote:Command::r"}); err == nil {
		t.Error("remote commands are not served yet; want an error")
	}
}
