// The rest of the LanguageRuntime service: which provider plugins a program needs, running Node policy packs and
// plugins (RunPlugin), dependency installation and `pulumi about` information.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/shlex"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// GetRequiredPackages lists the provider plugins the program's installed Node packages declare, i.e. every
// node_modules/**/package.json with a `"pulumi": {"resource": true}` block (official getPackagesFromDir). The engine
// uses the list to pre-install plugins and as the default provider versions; with the list empty it would still
// work, loading each provider lazily from the plugin cache at the version the SDK sends with every resource.
// Errors while scanning are only logged, as in the official host: a half-readable node_modules must not stop an
// update. GetRequiredPlugins (the older call) stays Unimplemented, as in the official host; the engine then uses
// this method.
// DIFFERS: the official host also warns when two incompatible @pulumi/pulumi versions are installed.
func (h *nodeHost) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	var pkgs []*pulumirpc.PackageDependency
	if info := req.GetInfo(); info != nil {
		visited := map[string]bool{}
		if err := scanPackages(info.ProgramDirectory, false, visited, &pkgs); err != nil {
			logging.V(3).Infof("one or more errors while discovering plugins: %v", err)
		}
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// scanPackages walks dir (following symlinks once, since node_modules is often a link farm) and appends the plugin
// of every package.json found below a node_modules directory. Nested policy packs are skipped: their plugins are
// not the program's.
func scanPackages(dir string, inNodeModules bool, visited map[string]bool, out *[]*pulumirpc.PackageDependency,
) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if visited[dir] {
		return nil
	}
	visited[dir] = true

	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading plugin dir %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path) // follows symlinks
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fi.IsDir() {
			if pack, err := workspace.DetectPolicyPackPathAt(path); err != nil || pack != "" {
				if err != nil {
					errs = append(errs, err)
				}
				continue
			}
			errs = append(errs, scanPackages(path, inNodeModules || filepath.Base(dir) == "node_modules", visited, out))
			continue
		}
		if !inNodeModules || e.Name() != "package.json" {
			continue
		}
		dep, err := readPluginDependency(path)
		if err != nil {
			errs = append(errs, err)
		} else if dep != nil {
			*out = append(*out, dep)
		}
	}
	return errors.Join(errs...)
}

// readPluginDependency turns a package.json `pulumi` block into a plugin dependency (official getPackageInfo,
// getPluginName, getPluginVersion): the name is `pulumi.name`, or the package name without its @pulumi/ scope;
// the version is `pulumi.version` or the package version, with a leading "v".
func readPluginDependency(path string) (*pulumirpc.PackageDependency, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pkg struct {
		Name    string                  `json:"name"`
		Version string                  `json:"version"`
		Pulumi  plugin.PulumiPluginJSON `json:"pulumi"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("unmarshaling package.json %s: %w", path, err)
	}
	if !pkg.Pulumi.Resource {
		return nil, nil
	}
	name := pkg.Pulumi.Name
	if name == "" {
		if !strings.HasPrefix(pkg.Name, "@pulumi/") {
			return nil, fmt.Errorf("%s: third-party package %q must name its plugin in the \"pulumi\" section",
				path, pkg.Name)
		}
		name = strings.TrimPrefix(pkg.Name, "@pulumi/")
	}
	ver := pkg.Pulumi.Version
	if ver == "" {
		ver = pkg.Version
	}
	if ver == "" {
		return nil, fmt.Errorf("%s: missing expected \"version\" property", path)
	}
	if !strings.HasPrefix(ver, "v") {
		ver = "v" + ver
	}
	dep := &pulumirpc.PackageDependency{Name: name, Kind: "resource", Version: ver, Server: pkg.Pulumi.Server}
	if p := pkg.Pulumi.Parameterization; p != nil {
		dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
	}
	return dep, nil
}

// RunPlugin runs a plugin written in Node: for policy packs (kind "analyzer", from `--policy-pack <dir>`)
// @pulumi/pulumi/cmd/run-policy-pack, otherwise @pulumi/pulumi/cmd/run-plugin; the process's stdout/stderr and
// exit are streamed back to the engine (official RunPlugin).
func (h *nodeHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	ctx := server.Context()
	info := req.GetInfo()
	if info == nil {
		return errors.New("RunPluginRequest has no program info")
	}
	if req.GetAttachDebugger() {
		return errors.New("attaching a debugger is not supported by this language host") // DIFFERS, as in Run
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	opts, err := parseOptions(info)
	if err != nil {
		return err
	}
	isPolicyPack := req.Kind == string(apitype.AnalyzerPlugin)
	runPath := "@pulumi/pulumi/cmd/run-policy-pack"
	if !isPolicyPack {
		if runPath = os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH"); runPath == "" {
			runPath = "@pulumi/pulumi/cmd/run-plugin"
		}
	}
	// The policy pack's (or plugin's) own @pulumi/pulumi, resolved from its directory.
	runPath, err = locateModule(ctx, nodeBin, runPath, info.ProgramDirectory, "npm install in "+info.ProgramDirectory)
	if err != nil {
		return err
	}
	nodeargs, err := shlex.Split(opts.nodeargs)
	if err != nil {
		return err
	}
	// The engine sends the whole environment the plugin should see.
	env := append(req.Env, opts.tsEnv()...)

	// run-policy-pack expects `<engine-address> <policy pack dir>`: the engine's args, then the directory last;
	// run-plugin expects the directory first.
	args := append([]string{runPath}, nodeargs...)
	if isPolicyPack {
		args = append(append(args, req.Args...), info.ProgramDirectory)
	} else {
		args = append(append(args, info.ProgramDirectory), req.Args...)
	}

	// Today's engine configures a policy pack with an AnalyzerStackConfigure call, while @pulumi/policy reads
	// stack, project, dry-run and config from PULUMI_NODEJS_* / PULUMI_CONFIG at start-up. sdk.PolicyProxy (the same
	// helper the official host uses) answers the engine first, hands us that configuration for the environment,
	// then forwards every later analyzer call to the real policy pack process.
	var proxy *sdk.PolicyProxy
	if isPolicyPack {
		if proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout); err != nil {
			return fmt.Errorf("could not start policy pack proxy: %w", err)
		}
		cfg, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get stack configuration: %w", err)
		}
		if cfg != nil {
			add := func(k, v string) {
				if v != "" {
					env = append(env, k+"="+v)
				}
			}
			add("PULUMI_NODEJS_ORGANIZATION", cfg.Organization)
			add("PULUMI_NODEJS_PROJECT", cfg.Project)
			add("PULUMI_NODEJS_STACK", cfg.Stack)
			add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(cfg.DryRun))
			if cfg.Config != nil {
				b, err := json.Marshal(cfg.Config)
				if err != nil {
					return fmt.Errorf("could not marshal stack configuration: %w", err)
				}
				add("PULUMI_CONFIG", string(b))
			}
		}
	}

	cmd := exec.CommandContext(ctx, nodeBin, args...)
	// Node policy packs have always run from their own directory; other plugins from the engine's pwd.
	if isPolicyPack {
		cmd.Dir = info.ProgramDirectory
	} else {
		cmd.Dir = req.Pwd
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("Language host launching plugin: %s", cmd)

	if err := cmd.Start(); err != nil {
		if proxy != nil {
			proxy.Abort(err)
		}
		return fmt.Errorf("Problem executing plugin program (could not run language executor): %w", err)
	}
	if proxy != nil {
		err = proxy.Attach(ctx, cmd) // reads the pack's port, proxies to it, waits for the process
	} else {
		err = cmd.Wait()
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("Program exited with non-zero exit code: %d", exitErr.ExitCode())
		}
		return err
	}
	return closer.Close()
}

// InstallDependencies is what `pulumi install` (and `pulumi new`) call.
// DIFFERS: the official host runs `npm install` (or yarn/pnpm/bun) here. In Gatehouse dependencies are installed
// from package-lock.json by `npm ci` through scripts/node22.sh, and nothing may reach the network while the engine
// runs, so this host only reports whether node_modules is in place.
func (h *nodeHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	closer, stdout, _, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	dir := ""
	if req.GetInfo() != nil {
		dir = req.GetInfo().ProgramDirectory
	}
	msg := "Dependencies are installed by `npm ci` (scripts/node22.sh); this language host installs nothing.\n"
	if _, err := locateModule(server.Context(), "node", "@pulumi/pulumi", dir, "npm ci"); err != nil {
		msg += "warning: @pulumi/pulumi is not resolvable from " + dir + ": run `npm ci` first.\n"
	}
	fmt.Fprint(stdout, msg)
	return closer.Close()
}

// About reports node and the package manager for `pulumi about` (official About).
func (h *nodeHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find executable \"node\": %w", err)
	}
	resp := &pulumirpc.AboutResponse{Executable: nodeBin, Metadata: map[string]string{}}
	if out, err := exec.CommandContext(ctx, nodeBin, "--version").Output(); err == nil {
		resp.Version = strings.TrimSpace(string(out))
	}
	if pm, err := h.packageManager(req.GetInfo()); err == nil {
		resp.Metadata["packagemanager"] = pm.Name()
		if v, err := pm.Version(); err == nil {
			resp.Metadata["packagemanagerVersion"] = v.String()
		}
	}
	return resp, nil
}

// GetProgramDependencies lists the installed packages from the lock file, through the SDK's npm helpers (the
// official host does the same): offline, no package manager process is run.
func (h *nodeHost) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	pm, err := h.packageManager(req.GetInfo())
	if err != nil {
		return nil, fmt.Errorf("failed to determine package manager: %w", err)
	}
	pkgs, err := pm.ListPackages(ctx, req.GetInfo().ProgramDirectory, req.TransitiveDependencies)
	if err != nil {
		return nil, fmt.Errorf("failed to get node dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, len(pkgs))
	for i, p := range pkgs {
		deps[i] = &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version}
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *nodeHost) packageManager(info *pulumirpc.ProgramInfo) (npm.PackageManager, error) {
	if info == nil {
		return nil, errors.New("no program info")
	}
	opts, err := parseOptions(info)
	if err != nil {
		return nil, err
	}
	return npm.ResolvePackageManager(npm.PackageManagerType(opts.packagemanager), info.ProgramDirectory)
}

// RuntimeOptionsPrompts and Template serve `pulumi new`. DIFFERS: the official host prompts for a package manager.
func (h *nodeHost) RuntimeOptionsPrompts(context.Context,
	*pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *nodeHost) Template(context.Context, *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return &pulumirpc.TemplateResponse{}, nil
}
