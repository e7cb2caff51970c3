import { readConfig } from "./components/config";
import { App } from "./components/app";

// Pulumi runs an exported function as the program; tests call it once per test
// under fresh mocks. Config -> components -> outputs, nothing else.
export = async function gatehouse() {
    const config = readConfig();
    const app = new App(config.app, { config });
    return {
        app: config.app,
        release: config.release,
        target: config.target,
        envNames: app.envNames,
    };
};
