package main

// command:local:Command. Sources followed (github.com/pulumi/pulumi-command):
//   - provider/pkg/provider/common/inputs.go: create/update/delete/triggers, with
//     triggers tagged provider:"replaceOnChanges".
//   - provider/pkg/provider/local/base.go: interpreter, dir, environment, stdin,
//     logging, addPreviousOutputInEnv (default true); outputs stdout, stderr.
//   - provider/pkg/provider/local/commandController.go: Create (nothing runs in
//     preview), Update (runs `update`, else `create`), Delete (runs `delete`).
//   - provider/pkg/provider/local/commandOutputs.go: run() (interpreter, dir,
//     environment, PULUMI_COMMAND_STDOUT/STDERR, stdin, error text, trimming).
//   - provider/pkg/provider/local/logging.go and util/util.go: which streams are
//     logged, line by line, as info status messages.
// And the v1.2.1 SDK docs (node_modules/@pulumi/command/local/command.d.ts,
// https://www.pulumi.com/registry/packages/command@1.x/api-docs/local/command/).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const localCommandToken = "command:local:Command"

type fieldKind string

const (
	kString     fieldKind = "string"
	kBool       fieldKind = "boolean"
	kStringList fieldKind = "array of strings"
	kStringMap  fieldKind = "map of strings"
	kAnyList    fieldKind = "array"
)

// The input properties of command:local:Command and their types.
var localInputs = map[resource.PropertyKey]fieldKind{
	"create": kString, "update": kString, "delete": kString, "triggers": kAnyList,
	"interpreter": kStringList, "dir": kString, "environment": kStringMap, "stdin": kString,
	"logging": kString, "addPreviousOutputInEnv": kBool,
	"assetPaths": kStringList, "archivePaths": kStringList,
}

type localCommand struct{}

// check mirrors infer's default Check: the inputs must decode into the input
// type (unknown property or wrong type -> check failure), then schema defaults
// are applied; the only default is addPreviousOutputInEnv = true (base.go).
func (localCommand) check(news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure) {
	var failures []*pulumirpc.CheckFailure
	for _, k := range news.StableKeys() {
		kind, ok := localInputs[k]
		switch {
		case !ok:
			failures = append(failures, &pulumirpc.CheckFailure{Property: string(k), Reason: "unrecognized field"})
		case k == "assetPaths" || k == "archivePaths":
			// Not implemented by this stand-in: fail loudly rather than return no assets.
			failures = append(failures, &pulumirpc.CheckFailure{Property: string(k),
				Reason: "not supported by the Gatehouse stand-in of pulumi-resource-command"})
		case !hasKind(news[k], kind):
			failures = append(failures, &pulumirpc.CheckFailure{Property: string(k), Reason: "expected " + string(kind)})
		}
	}
	inputs := news.Copy()
	if v, ok := inputs["addPreviousOutputInEnv"]; !ok || v.IsNull() {
		inputs["addPreviousOutputInEnv"] = resource.NewBoolProperty(true)
	}
	return inputs, failures
}

// diff mirrors infer's default Diff: ignoreChanges take the old value, then the
// old state's input properties are compared with the new inputs. Changes are
// updates (the resource implements Update), except under `triggers`, which is
// replaceOnChanges. The real Diff marks only a change of the whole `triggers`
// key as a replace and leaves element changes (`triggers[0]`) to the SDK's
// replaceOnChanges: ["triggers[*]"] option (local/command.js); the engine
// result is the same: any trigger change replaces. No delete-before-replace.
func (localCommand) diff(olds, news resource.PropertyMap, ignoreChanges []string) *pulumirpc.DiffResponse {
	news = applyIgnoreChanges(olds, news, ignoreChanges)
	oldInputs := resource.PropertyMap{}
	for k := range localInputs {
		if v, ok := olds[k]; ok {
			oldInputs[k] = v
		}
	}
	objDiff := oldInputs.Diff(news)
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		HasDetailedDiff: true,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
	}
	if objDiff.AnyChanges() {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	for path, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, false) {
		kind := d.Kind
		if p, err := resource.ParsePropertyPath(path); err == nil && len(p) > 0 && p[0] == "triggers" {
			kind = kind.AsReplace()
		}
		// plugin.DiffKind and pulumirpc.PropertyDiff_Kind share their values (ADD=0 ... UPDATE_REPLACE=5).
		resp.DetailedDiff[path] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_Kind(kind)}
		resp.Diffs = append(resp.Diffs, path)
		if kind.IsReplace() {
			resp.Replaces = append(resp.Replaces, path)
		}
	}
	sort.Strings(resp.Diffs)
	sort.Strings(resp.Replaces)
	return resp
}

// create: the outputs are the inputs plus stdout and stderr. In preview nothing
// runs and, as infer does for a create preview, stdout/stderr are unknown. The
// ID is the resource name plus random hex (resource.NewUniqueHex(name, 8, 0)).
func (localCommand) create(ctx context.Context, op operation, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error) {
	id, err := resource.NewUniqueHex(op.urn.Name(), 8, 0)
	if err != nil {
		return "", nil, err
	}
	outs := inputs.Copy()
	if preview {
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		return id, outs, nil
	}
	args := decodeLocal(inputs)
	var stdout, stderr string
	if args.create != nil {
		if stdout, stderr, err = runLocal(ctx, op, *args.create, args, "", "", secretStrings(inputs)); err != nil {
			return "", nil, err
		}
	}
	outs["stdout"], outs["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	return id, outs, nil
}

// update runs `update`, or `create` when `update` is not set (commandController.go:
// "Use Create command if Update is unspecified"); if neither is set the previous
// stdout/stderr are kept. The previous stdout/stderr are the PULUMI_COMMAND_*
// environment. In preview nothing runs; stdout/stderr become unknown when an
// input that was in the old state changed or is unknown (infer's markComputed).
func (localCommand) update(ctx context.Context, op operation, olds, news resource.PropertyMap, ignoreChanges []string, preview bool) (resource.PropertyMap, error) {
	news = applyIgnoreChanges(olds, news, ignoreChanges)
	outs := news.Copy()
	prevOut, prevErr := plainString(olds["stdout"]), plainString(olds["stderr"])
	outs["stdout"], outs["stderr"] = resource.NewStringProperty(prevOut), resource.NewStringProperty(prevErr)
	if preview {
		for k := range localInputs {
			old, had := olds[k]
			if news[k].ContainsUnknowns() || (had && !old.DeepEquals(news[k])) {
				outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
				outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
				break
			}
		}
		return outs, nil
	}
	args := decodeLocal(news)
	command := args.create
	if args.update != nil {
		command = args.update
	}
	if command == nil {
		return outs, nil
	}
	stdout, stderr, err := runLocal(ctx, op, *command, args, prevOut, prevErr, secretStrings(news))
	if err != nil {
		return nil, err
	}
	outs["stdout"], outs["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	return outs, nil
}

// delete runs `delete` with the settings and stdout/stderr stored in the state.
func (localCommand) delete(ctx context.Context, op operation, state resource.PropertyMap) error {
	args := decodeLocal(state)
	if args.delete == nil {
		return nil
	}
	_, _, err := runLocal(ctx, op, *args.delete, args, plainString(state["stdout"]), plainString(state["stderr"]), secretStrings(state))
	return err
}

// localArgs are the inputs a run needs, with secrets unwrapped.
type localArgs struct {
	create, update, delete, dir, stdin, logging *string
	interpreter                                 []string
	environment                                 map[string]string
	addPreviousOutputInEnv                      *bool
}

func decodeLocal(m resource.PropertyMap) localArgs {
	str := func(k resource.PropertyKey) *string {
		if v, ok := unwrap(m[k]); ok && v.IsString() {
			s := v.StringValue()
			return &s
		}
		return nil
	}
	a := localArgs{create: str("create"), update: str("update"), delete: str("delete"),
		dir: str("dir"), stdin: str("stdin"), logging: str("logging")}
	if v, ok := unwrap(m["addPreviousOutputInEnv"]); ok && v.IsBool() {
		b := v.BoolValue()
		a.addPreviousOutputInEnv = &b
	}
	if v, ok := unwrap(m["interpreter"]); ok && v.IsArray() {
		for _, e := range v.ArrayValue() {
			a.interpreter = append(a.interpreter, plainString(e))
		}
	}
	if v, ok := unwrap(m["environment"]); ok && v.IsObject() {
		a.environment = map[string]string{}
		for k, e := range v.ObjectValue() {
			a.environment[string(k)] = plainString(e)
		}
	}
	return a
}

// runLocal runs one command as commandOutputs.go's run() does and returns its
// trimmed stdout and stderr.
func runLocal(ctx context.Context, op operation, command string, a localArgs, prevStdout, prevStderr string, secrets []string) (string, string, error) {
	args := []string{"/bin/sh", "-c"}
	if runtime.GOOS == "windows" {
		args = []string{"cmd", "/C"}
	}
	if len(a.interpreter) > 0 {
		args = append([]string{}, a.interpreter...)
	}
	args = append(args, command)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)

	// Outputs are captured whatever `logging` says; logging only picks which
	// streams are also sent to the engine (nil = both, see logging.go).
	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{} // both streams, for the error message only
	logR, logW := io.Pipe()
	outWriters, errWriters := []io.Writer{&stdout, combined}, []io.Writer{&stderr, combined}
	if a.logging == nil || *a.logging == "stdout" || *a.logging == "stdoutAndStderr" {
		outWriters = append(outWriters, logW)
	}
	if a.logging == nil || *a.logging == "stderr" || *a.logging == "stdoutAndStderr" {
		errWriters = append(errWriters, logW)
	}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(outWriters...), io.MultiWriter(errWriters...)

	if a.dir != nil {
		cmd.Dir = *a.dir
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return "", "", err
		}
		cmd.Dir = wd
	}
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(a.environment))
	for k := range a.environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+a.environment[k])
	}
	if a.addPreviousOutputInEnv == nil || *a.addPreviousOutputInEnv {
		if prevStdout != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDOUT="+prevStdout)
		}
		if prevStderr != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDERR="+prevStderr)
		}
	}
	if a.stdin != nil && *a.stdin != "" {
		cmd.Stdin = strings.NewReader(*a.stdin)
	}

	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(logR)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			op.log(ctx, op.urn, redact(sc.Text(), secrets))
		}
		_, _ = io.Copy(io.Discard, logR) // never block the command on an over-long line
	}()
	err := cmd.Run()
	logW.Close()
	<-logged

	if err != nil {
		// Same text as the real provider: "<exit status N>: running \"<command>\":\n<stdout+stderr>".
		// Secrets are masked in each part, before %q could escape them.
		return "", "", fmt.Errorf("%s: running %q:\n%s",
			redact(err.Error(), secrets), redact(command, secrets), redact(combined.String(), secrets))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// unwrap strips secret and known-output wrappers; false if the value is unknown.
func unwrap(v resource.PropertyValue) (resource.PropertyValue, bool) {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsComputed():
			return v, false
		case v.IsOutput():
			if !v.OutputValue().Known {
				return v, false
			}
			v = v.OutputValue().Element
		default:
			return v, true
		}
	}
}

func plainString(v resource.PropertyValue) string {
	if v, ok := unwrap(v); ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// hasKind reports whether v (unknown and null allowed) has the given type.
func hasKind(v resource.PropertyValue, kind fieldKind) bool {
	v, known := unwrap(v)
	if !known || v.IsNull() {
		return true
	}
	isString := func(e resource.PropertyValue) bool { e, ok := unwrap(e); return !ok || e.IsString() }
	switch kind {
	case kString:
		return v.IsString()
	case kBool:
		return v.IsBool()
	case kAnyList:
		return v.IsArray()
	case kStringList:
		if !v.IsArray() {
			return false
		}
		for _, e := range v.ArrayValue() {
			if !isString(e) {
				return false
			}
		}
		return true
	case kStringMap:
		if !v.IsObject() {
			return false
		}
		for _, e := range v.ObjectValue() {
			if !isString(e) {
				return false
			}
		}
		return true
	}
	return false
}

// applyIgnoreChanges gives every ignoreChanges path its old value (or removes
// it if it had none). The engine already did this before Check
// (pkg/resource/deploy/step_generator.go, processIgnoreChanges); infer repeats
// it in Diff and Update for top-level keys.
func applyIgnoreChanges(olds, news resource.PropertyMap, ignoreChanges []string) resource.PropertyMap {
	if len(ignoreChanges) == 0 {
		return news
	}
	news = news.Copy()
	oldObj, newObj := resource.NewObjectProperty(olds), resource.NewObjectProperty(news)
	for _, s := range ignoreChanges {
		path, err := resource.ParsePropertyPath(s)
		if err != nil {
			continue
		}
		if v, ok := path.Get(oldObj); ok {
			path.Set(newObj, v)
		} else {
			path.Delete(newObj)
		}
	}
	return news
}

// secretStrings lists the string values inside secrets, to keep them out of
// logs and error messages.
func secretStrings(m resource.PropertyMap) []string {
	var out []string
	var walk func(v resource.PropertyValue, secret bool)
	walk = func(v resource.PropertyValue, secret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			walk(v.OutputValue().Element, secret || v.OutputValue().Secret)
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, secret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, secret)
			}
		case v.IsString() && secret && v.StringValue() != "":
			out = append(out, v.StringValue())
		}
	}
	walk(resource.NewObjectProperty(m), false)
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		s = strings.ReplaceAll(s, secret, "[secret]")
	}
	return s
}
