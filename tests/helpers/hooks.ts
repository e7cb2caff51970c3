import { stopTestPostgres } from "./postgres";

// Root hooks: stop the embedded PostgreSQL (if the run started one) at the end.
export const mochaHooks = {
    async afterAll() {
        await stopTestPostgres();
    },
};
