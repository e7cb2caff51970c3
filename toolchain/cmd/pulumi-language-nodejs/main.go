// pulumi-language-nodejs is Gatehouse's own, minimal Node.js language host for the Pulumi engine.
//
// Why it exists: the official host (module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
// cannot be fetched on this machine (the module proxy answers 403), while the engine needs a binary of this name on
// PATH to run `runtime: nodejs` programs and Node policy packs. This host follows the behaviour of the official
// sdk/nodejs/cmd/pulumi-language-nodejs/main.go (v3.27x) for everything the engine uses during
// preview/up/destroy/refresh and `--policy-pack`; it leaves out code generation, packing, linking and debugging.
// Every deliberate difference is marked "DIFFERS:".
//
// Protocol (as the engine's sdk/go/common/resource/plugin/langruntime_plugin.go and plugin.go expect): the engine
// starts us as `pulumi-language-nodejs [--logtostderr] [-v=N] [--tracing URL] <engine-address>`, we serve
// pulumirpc.LanguageRuntime over gRPC on a free 127.0.0.1 port and print that port as the first stdout line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/google/shlex"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	// Reported by GetPluginInfo when the build did not stamp version.Version (-X ...version.Version=v3.274.1).
	fallbackVersion = "v3.274.1"

	// Entry point of @pulumi/pulumi that connects to the engine and runs the user's program
	// (node_modules/@pulumi/pulumi/cmd/run/index.js). PULUMI_LANGUAGE_NODEJS_RUN_PATH overrides it, as in the
	// official host.
	defaultRunPath = "@pulumi/pulumi/cmd/run"

	// cmd/run/index.js exits with 32 after it has already logged the error through the engine
	// (nodeJSProcessExitedAfterLoggingUserActionableMessage); the engine must then just stop, without a second
	// message (RunResponse.Bail).
	exitCodeAlreadyReported = 32
)

func main() {
	// Flags the engine may pass (plugin.go buildPluginArguments): --logtostderr, -v=N, --tracing URL.
	// -runtime and -version are the official host's own flags. -root is accepted and ignored so an older engine
	// that passes it does not make flag parsing fail.
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	runtimeName := flag.String("runtime", "nodejs", "Runtime for the program; only `nodejs` is supported here")
	showVersion := flag.Bool("version", false, "Print the plugin version and exit")
	// -logtostderr and -v are normally registered by a logging dependency (glog); define them only if not, and let
	// logging.InitLogging read them.
	if flag.Lookup("logtostderr") == nil {
		flag.Bool("logtostderr", false, "Log to stderr")
	}
	if flag.Lookup("v") == nil {
		flag.Int("v", 0, "Log verbosity")
	}
	flag.String("root", "", "Ignored (accepted for compatibility)")
	flag.Parse()

	if *showVersion {
		fmt.Println(pluginVersion())
		os.Exit(0)
	}
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-nodejs", "pulumi-language-nodejs", *tracing)

	// DIFFERS: the official host also supports `-runtime bun`; Gatehouse only runs Node.
	if *runtimeName != "nodejs" {
		cmdutil.Exit(fmt.Errorf("unsupported runtime: %s (this host only supports nodejs)", *runtimeName))
	}

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	// Stop serving on Ctrl-C, or when the engine stops answering health checks, so we never outlive the engine
	// (official main.go: signal.NotifyContext + rpcutil.Healthcheck).
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	stop := make(chan bool)
	go func() {
		<-ctx.Done()
		cancel()
		close(stop)
	}()
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	host := newHost(engineAddress, *tracing)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}

	// The engine reads the port from the first line of our stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

func pluginVersion() string {
	if version.Version != "" {
		return version.Version
	}
	return fallbackVersion
}

// nodeHost implements pulumirpc.LanguageRuntimeServer. Methods not written here (GenerateProgram,
// GenerateProject, GeneratePackage, Pack, Link, RunPlugin2) answer Unimplemented through the embedded type.
// DIFFERS: those are code-generation and packaging features Gatehouse does not use.
type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	tracing       string

	// Cancelled by the Cancel RPC; every node process we start is tied to it.
	cancelCtx  context.Context
	cancelFunc context.CancelFunc
}

func newHost(engineAddress, tracing string) *nodeHost {
	ctx, cancel := context.WithCancel(context.Background())
	return &nodeHost{engineAddress: engineAddress, tracing: tracing, cancelCtx: ctx, cancelFunc: cancel}
}

// Handshake is how an engine that attached to an already running host (PULUMI_DEBUG_LANGUAGES) tells us where it
// is; the engine that starts us passes its address as the positional argument instead.
// DIFFERS: the official host also starts a second health check here; ours runs from main when started normally.
func (h *nodeHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersion()}, nil
}

func (h *nodeHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelFunc()
	return &emptypb.Empty{}, nil
}

// nodeOptions are the Pulumi.yaml `runtime.options` the official host understands (parseOptions in main.go).
type nodeOptions struct {
	typescript     bool   // run .ts through ts-node (PULUMI_NODEJS_TYPESCRIPT); defaults to true
	tsconfig       string // PULUMI_NODEJS_TSCONFIG_PATH
	nodeargs       string // extra arguments for node, shell-split
	packagemanager string // auto | npm | yarn | pnpm | bun
}

func parseOptions(info *pulumirpc.ProgramInfo) (nodeOptions, error) {
	opts := nodeOptions{typescript: true, packagemanager: "auto"}
	if info == nil || info.Options == nil {
		return opts, nil
	}
	m := info.Options.AsMap()
	if v, ok := m["typescript"]; ok {
		b, ok := v.(bool)
		if !ok {
			return opts, errors.New("typescript option must be a boolean")
		}
		opts.typescript = b
	}
	for key, dst := range map[string]*string{
		"tsconfig": &opts.tsconfig, "nodeargs": &opts.nodeargs, "packagemanager": &opts.packagemanager,
	} {
		if v, ok := m[key]; ok {
			s, ok := v.(string)
			if !ok {
				return opts, fmt.Errorf("%s option must be a string", key)
			}
			*dst = s
		}
	}
	switch opts.packagemanager {
	case "auto", "npm", "yarn", "pnpm", "bun":
	default:
		return opts, fmt.Errorf("packagemanager option must be one of auto, npm, yarn, pnpm or bun, got %q",
			opts.packagemanager)
	}
	return opts, nil
}

// tsEnv is the environment that tells @pulumi/pulumi's cmd/run (run.js) and cmd/run-plugin to load TypeScript
// through ts-node, and with which tsconfig.
func (o nodeOptions) tsEnv() []string {
	var env []string
	if o.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// locateModule asks node itself to resolve an @pulumi/pulumi entry point from dir, so the program's own copy of
// the SDK (found by node's usual parent-directory search) is the one that runs (official locateModule).
func locateModule(ctx context.Context, nodeBin, mod, dir, installHint string) (string, error) {
	script := fmt.Sprintf(`try { console.log(require.resolve(%q)); } catch (e) { `+
		`if (e.code === "MODULE_NOT_FOUND") { console.error("It looks like the Pulumi SDK has not been installed. `+
		`Have you run %s?"); } else { console.error(e.message); } process.exit(1); }`, mod, installHint)
	cmd := exec.CommandContext(ctx, nodeBin, "-e", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Run executes the Pulumi program: `node [nodeargs] <@pulumi/pulumi/cmd/run> --monitor ... <entry point> [args]`,
// with configuration in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS (official Run/execRuntime/constructArguments).
//
// DIFFERS: the official host puts its own ResourceMonitor proxy (proxy.go) between node and the engine and creates
// a pair of named pipes passed as --sync, for the SDK's old synchronous invokes. @pulumi/pulumi 3.270.0 never
// opens those pipes (runtime/settings.js tryGetSyncInvokes has no caller), so we hand node the engine's monitor
// address directly and pass no --sync.
func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		// DIFFERS: the official host starts node with --inspect-brk and tells the engine to attach a debugger.
		return &pulumirpc.RunResponse{Error: "attaching a debugger is not supported by this language host"}, nil
	}
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("RunRequest has no program info; this engine is too old for this language host")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on the $PATH: " + err.Error()}, nil
	}
	runPath := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if runPath == "" {
		runPath = defaultRunPath
	}
	runPath, err = locateModule(ctx, nodeBin, runPath, info.ProgramDirectory, "pulumi install")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	opts, err := parseOptions(info)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	// Config keys arrive as "<namespace>:<name>"; the official host hands them to node in the older
	// "<namespace>:config:<name>" form, which every @pulumi/pulumi version reads.
	cfg := make(map[string]string, len(req.GetConfig()))
	for k, v := range req.GetConfig() {
		key, err := config.ParseKey(k)
		if err != nil {
			return &pulumirpc.RunResponse{Error: "failed to serialize configuration: " + err.Error()}, nil
		}
		cfg[key.Namespace()+":config:"+key.Name()] = v
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(cfgJSON), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	env = append(env, opts.tsEnv()...)

	// The flags cmd/run/index.js reads with minimist; empty values are left out, as in the official host.
	args, err := shlex.Split(opts.nodeargs)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	args = append(args, runPath)
	flagArg := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engineAddress)
	flagArg("organization", req.GetOrganization())
	flagArg("project", req.GetProject())
	flagArg("root-directory", info.RootDirectory)
	flagArg("stack", req.GetStack())
	flagArg("pwd", info.ProgramDirectory)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("tracing", h.tracing)
	// Pulumi.yaml `main: index.ts` arrives as EntryPoint "index.ts"; no `main` arrives as ".".
	args = append(args, info.EntryPoint)
	args = append(args, req.GetArgs()...)

	logging.V(5).Infof("Language host launching process: %s %s", nodeBin, strings.Join(args, " "))

	// The process ends when the engine cancels (Cancel RPC) or abandons the request: first SIGINT so the SDK can
	// flush, then a kill after 5 s (official execRuntime).
	cmdCtx, cmdCancel := context.WithCancel(h.cancelCtx)
	defer cmdCancel()
	context.AfterFunc(ctx, cmdCancel)
	cmd := exec.CommandContext(cmdCtx, nodeBin, args...)
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = env
	// The program's own output goes to our stdout/stderr, which the engine shows to the user. Node may switch
	// inherited descriptors to non-blocking mode, so (like the official host) we copy through a wrapper rather than
	// hand node our own file descriptors.
	// DIFFERS: the official host also scans stderr for V8 out-of-memory output to add a `nodeargs` hint.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}

	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
			}, nil
		}
		switch code := exitErr.ExitCode(); code {
		case exitCodeAlreadyReported:
			return &pulumirpc.RunResponse{Bail: true}, nil
		case 0:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", exitErr)}, nil
		default:
			// -1 means killed by a signal.
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
	}
	return &pulumirpc.RunResponse{}, nil
}
