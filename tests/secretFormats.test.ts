import { strict as assert } from "assert";
import * as path from "path";
import { readProjectFile, validateConfig } from "../components/config";
import { describe as describeFormat, formatProblem, generateSecret, parseSecretFormat } from "../components/config/secretFormats";
import { loadStackConfig } from "./harness/stackConfig";

// Secrets in the form the app needs (secretFormats). kifu decodes KIFU_ENC_KEY
// with Go's base64.StdEncoding and exits at start unless it is exactly 32
// bytes (internal/infrastructure/crypto/aes.go): an unpadded, URL-safe or
// short key, or hex, stops the real backend.
describe("secret formats", () => {
    const KEY = { encoding: "base64", bytes: 32 } as const;

    it("tells standard padded base64 of 32 bytes from the forms the app refuses", () => {
        const raw = Buffer.alloc(32, 0xfb); // bytes that encode to + and / in base64, - and _ in base64url
        assert.equal(formatProblem(raw.toString("base64"), KEY), undefined);
        assert.match(formatProblem(raw.toString("base64url"), KEY)!, /characters outside that alphabet \(- or _: base64url\?\)/);
        assert.match(formatProblem(raw.toString("base64").replace(/=+$/, ""), KEY)!, /not in that encoding's canonical form \(padding\?\)/);
        assert.match(formatProblem(Buffer.alloc(16).toString("base64"), KEY)!, /decodes to 16 bytes/);
        assert.match(formatProblem(raw.toString("hex"), KEY)!, /decodes to 48 bytes/);
        assert.equal(formatProblem(generateSecret(KEY), KEY), undefined);
        assert.equal(generateSecret(KEY).length, 44);
        assert.equal(describeFormat(KEY), "standard padded base64 of exactly 32 bytes");
    });

    it("reads NAME=<encoding>:<bytes> and names what is wrong with an entry", () => {
        assert.deepEqual(parseSecretFormat("KIFU_ENC_KEY=base64:32"), { name: "KIFU_ENC_KEY", format: KEY });
        assert.deepEqual(parseSecretFormat("KIFU_ENC_KEY=base32:32"), { error: 'KIFU_ENC_KEY: unknown encoding "base32" (one of base64, base64url, hex)' });
        assert.match((parseSecretFormat("kifu=base64:32") as { error: string }).error, /must be NAME=<encoding>:<bytes>/);
    });

    describe("in a stack's config", () => {
        const problemsOf = (stack: string, options: Parameters<typeof loadStackConfig>[1]) => {
            const loaded = loadStackConfig(stack, options);
            const prefix = `${loaded.project}:`;
            const values = Object.fromEntries(Object.entries(loaded.config).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
            const secretKeys = new Set(loaded.secretKeys.map((k) => k.slice(prefix.length)));
            return validateConfig({ stack, project: readProjectFile(), values, secretKeys, projectDir: path.join(__dirname, "..") }).problems;
        };

        it("the prod stack refuses a KIFU_ENC_KEY the app would refuse, before anything is created, with a command that makes a good one", () => {
            const problems = problemsOf("prod", { secrets: { KIFU_ENC_KEY: Buffer.alloc(32, 0xfb).toString("base64url") } });
            assert.deepEqual(
                problems.map((p) => [p.key, p.problem, p.fix]),
                [
                    [
                        "KIFU_ENC_KEY",
                        "must be standard padded base64 of exactly 32 bytes; the value has characters outside that alphabet (- or _: base64url?) (secretFormats)",
                        'pulumi config set --stack prod --secret KIFU_ENC_KEY "$(head -c 32 /dev/urandom | base64)"',
                    ],
                ],
            );
            assert.deepEqual(problemsOf("prod", {}), [], "the harness's generated key is in the declared form");
        });

        it("refuses a format for a name that is no secret of the stack", () => {
            const problems = problemsOf("prod", { set: { secretFormats: ["KIFU_ENC_KEY=base64:32", "NOT_A_SECRET=hex:16"] } });
            assert.deepEqual(problems.map((p) => [p.key, p.problem]), [["secretFormats[1]", "names NOT_A_SECRET, which is not a secret of this stack (JWT_SECRET, KIFU_ENC_KEY, OPENAI_API_KEY)"]]);
        });
    });
});
