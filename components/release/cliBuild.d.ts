/** Where the release steps' CLIs are built, relative to the project. */
export declare const CLI_BUILD_DIR: string;
/** Bundles Gatehouse's CLIs into CLI_BUILD_DIR when a source is newer than the build (see cliBuild.js). */
export declare function ensureCliBuild(): void;
