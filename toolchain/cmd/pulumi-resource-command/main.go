// Command pulumi-resource-command is a stand-in for the engine plugin of
// @pulumi/command 1.2.1 (github.com/pulumi/pulumi-command, provider/ module),
// which cannot be fetched or built here. It serves the resource provider gRPC
// protocol for command:local:Command only, following the real provider's
// rules; local.go says where each rule comes from. Remote resources
// (command:remote:Command, CopyToRemote) and the command:local:run invoke are
// not served: add them as further entries of server.types (see the
// resourceType interface below).
//
// The real provider is built on pulumi-go-provider's "infer" package, so much of
// its behaviour (Check defaults, Diff, secrets, preview unknowns, Cancel) comes
// from there (github.com/pulumi/pulumi-go-provider: provider.go, infer/resource.go,
// middleware/cancel); comments name the piece they follow.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is set at link time: -ldflags "-X main.version=1.2.1".
var version = "1.2.1"

// statusLogger sends one line of a command's output to the engine.
type statusLogger func(ctx context.Context, urn resource.URN, line string)

// resourceType is the seam for each resource token. Property maps keep secrets
// and unknowns; the server does all gRPC (un)marshalling.
type resourceType interface {
	check(news resource.PropertyMap) (resource.PropertyMap, []*pulumirpc.CheckFailure)
	diff(olds, news resource.PropertyMap, ignoreChanges []string) *pulumirpc.DiffResponse
	create(ctx context.Context, op operation, inputs resource.PropertyMap, preview bool) (string, resource.PropertyMap, error)
	update(ctx context.Context, op operation, olds, news resource.PropertyMap, ignoreChanges []string, preview bool) (resource.PropertyMap, error)
	delete(ctx context.Context, op operation, state resource.PropertyMap) error
}

// operation is what a resource step needs from the server.
type operation struct {
	urn resource.URN
	log statusLogger
}

// main does what sdk/go/pulumi/provider.Main does (connect to the engine given
// as the only argument, health-check it, serve, print the port, stop on
// SIGINT). That package is not used because it needs a module
// (go.opentelemetry.io/otel/bridge/opentracing) that gatehouse/pulumi-toolchain's
// go.mod/go.sum do not carry; rpcutil and the Engine client are already there.
func main() {
	flag.String("tracing", "", "accepted for compatibility with the engine; ignored")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "fatal: usage: pulumi-resource-command <engine address>")
		os.Exit(1)
	}
	if err := serve(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "fatal:", err)
		os.Exit(1)
	}
}

func serve(engineAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	conn, err := grpc.NewClient(engineAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return fmt.Errorf("could not connect to host RPC: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := rpcutil.Healthcheck(ctx, engineAddr, 5*time.Minute, cancel); err != nil {
		return fmt.Errorf("could not start health check host RPC server: %w", err)
	}
	cancelChannel := make(chan bool)
	go func() { <-ctx.Done(); close(cancelChannel) }()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, newServer(engineLogger(pulumirpc.NewEngineClient(conn))))
			return nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", handle.Port) // the protocol: the engine reads the port from stdout
	return <-handle.Done
}

// engineLogger logs through the engine as an ephemeral status message of the
// resource, as the real provider does: util.LogOutput calls
// p.GetLogger(ctx).InfoStatus(line), which pulumi-go-provider sends as
// HostClient.LogStatus(ctx, diag.Info, urn, line), i.e. an Engine.Log request
// with severity INFO, the URN and ephemeral = true.
func engineLogger(engine pulumirpc.EngineClient) statusLogger {
	return func(ctx context.Context, urn resource.URN, line string) {
		_, _ = engine.Log(ctx, &pulumirpc.LogRequest{
			Severity: pulumirpc.LogSeverity_INFO, Message: strings.ToValidUTF8(line, "\uFFFD"),
			Urn: string(urn), Ephemeral: true,
		})
	}
}

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	log   statusLogger
	types map[string]resourceType
	// stop is cancelled by the Cancel RPC; every running step derives from it,
	// like pulumi-go-provider's middleware/cancel which infer providers use.
	stop     context.Context
	stopFunc context.CancelFunc
}

func newServer(log statusLogger) *server {
	stop, stopFunc := context.WithCancel(context.Background())
	return &server{
		log:      log,
		types:    map[string]resourceType{localCommandToken: localCommand{}},
		stop:     stop,
		stopFunc: stopFunc,
	}
}

// Marshalling options as pulumi-go-provider's getMap/asStruct (provider.go).
var (
	unmarshalOpts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepResources: true, KeepSecrets: true}
	marshalOpts   = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: true}
)

func (s *server) lookup(urn string) (resourceType, resource.URN, error) {
	u := resource.URN(urn)
	if !u.IsValid() {
		return nil, u, fmt.Errorf("invalid URN %q", urn)
	}
	t, ok := s.types[string(u.Type())]
	if !ok {
		return nil, u, status.Errorf(codes.Unimplemented,
			"resource type %q is not implemented by this pulumi-resource-command stand-in", u.Type())
	}
	return t, u, nil
}

// opContext ends when the request ends, the engine calls Cancel, or the
// step's custom timeout (in seconds, 0 = none) passes.
func (s *server) opContext(ctx context.Context, timeoutSeconds float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(s.stop, cancel)
	if timeoutSeconds > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, time.Duration(timeoutSeconds*float64(time.Second)))
		return ctx, func() { cancelTimeout(); stopAfter(); cancel() }
	}
	return ctx, func() { stopAfter(); cancel() }
}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, unmarshalOpts)
}

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// The command provider has no configuration; accept whatever the engine sends.
func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure answers with the options pulumi-go-provider opts into (provider.go).
func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets: true, SupportsPreview: true, AcceptResources: true, AcceptOutputs: true,
	}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.stopFunc()
	return &emptypb.Empty{}, nil
}

func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	t, _, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	inputs, failures := t.check(news)
	out, err := plugin.MarshalProperties(inputs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out, Failures: failures}, nil
}

func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	t, _, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return t.diff(olds, news, req.GetIgnoreChanges()), nil
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	t, urn, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, done := s.opContext(ctx, req.GetTimeout())
	defer done()
	// On error nothing is returned, so the engine records no resource and the
	// next `pulumi up` runs `create` again (infer's Create does the same).
	id, outs, err := t.create(ctx, operation{urn, s.log}, inputs, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := plugin.MarshalProperties(outs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	t, urn, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ctx, done := s.opContext(ctx, req.GetTimeout())
	defer done()
	outs, err := t.update(ctx, operation{urn, s.log}, olds, news, req.GetIgnoreChanges(), req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := plugin.MarshalProperties(outs, marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	t, urn, err := s.lookup(req.GetUrn())
	if err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, done := s.opContext(ctx, req.GetTimeout())
	defer done()
	if err := t.delete(ctx, operation{urn, s.log}, state); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read returns the state as is: infer's default Read (no CustomRead) after
// checking that the state decodes.
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, _, err := s.lookup(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
