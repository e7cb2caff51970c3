import * as crypto from "crypto";

/**
 * The form an app needs a secret in, declared per secret in `secretFormats`
 * ("NAME=<encoding>:<bytes>"): kifu decodes KIFU_ENC_KEY with Go's
 * base64.StdEncoding and refuses anything but exactly 32 bytes
 * (internal/infrastructure/crypto/aes.go, LoadKeyFromEnv), so a key in another
 * alphabet, unpadded or of another length stops the backend at start. The
 * program checks every declared secret's value before it creates anything;
 * up:local generates missing local secrets in their declared form.
 */
export interface SecretFormat {
    encoding: Encoding;
    bytes: number;
}

const ENCODINGS = {
    /** RFC 4648 section 4, padded (Go's base64.StdEncoding, `head -c N /dev/urandom | base64`). */
    base64: { alphabet: /^[A-Za-z0-9+/]*={0,2}$/, encode: (b: Buffer) => b.toString("base64"), how: (n: number) => `head -c ${n} /dev/urandom | base64` },
    /** RFC 4648 section 5, unpadded (what up:local generated before formats were declared). */
    base64url: { alphabet: /^[A-Za-z0-9_-]*$/, encode: (b: Buffer) => b.toString("base64url"), how: (n: number) => `head -c ${n} /dev/urandom | basenc --base64url | tr -d '='` },
    hex: { alphabet: /^[0-9a-fA-F]*$/, encode: (b: Buffer) => b.toString("hex"), how: (n: number) => `head -c ${n} /dev/urandom | xxd -p -c ${n}` },
} as const;
type Encoding = keyof typeof ENCODINGS;

/** What up:local generates for a secret that declares no format. */
export const DEFAULT_LOCAL_SECRET: SecretFormat = { encoding: "base64url", bytes: 32 };

/** Reads one `secretFormats` entry; an error says what is wrong with it. */
export function parseSecretFormat(entry: string): { name: string; format: SecretFormat } | { error: string } {
    const m = /^([A-Z_][A-Z0-9_]*)=([a-z0-9]+):([0-9]+)$/.exec(entry);
    if (!m) return { error: `must be NAME=<encoding>:<bytes> (e.g. KIFU_ENC_KEY=base64:32), got ${JSON.stringify(entry)}` };
    const [, name, encoding, bytes] = m;
    if (!(encoding in ENCODINGS)) return { error: `${name}: unknown encoding ${JSON.stringify(encoding)} (one of ${Object.keys(ENCODINGS).join(", ")})` };
    if (Number(bytes) < 1 || Number(bytes) > 1024) return { error: `${name}: ${bytes} bytes is out of range (1 to 1024)` };
    return { name, format: { encoding: encoding as Encoding, bytes: Number(bytes) } };
}

/** Why a value is not in the format, or undefined when it is. Never quotes the value. */
export function formatProblem(value: string, format: SecretFormat): string | undefined {
    const { encoding, bytes } = format;
    const spec = ENCODINGS[encoding];
    const want = `must be ${describe(format)}`;
    if (!spec.alphabet.test(value)) return `${want}; the value has characters outside that alphabet${encoding === "base64" && /[-_]/.test(value) ? " (- or _: base64url?)" : ""}`;
    const decoded = encoding === "hex" ? (value.length % 2 ? undefined : Buffer.from(value, "hex")) : Buffer.from(value, encoding);
    if (decoded === undefined || decoded.length !== bytes) return `${want}; the value decodes to ${decoded?.length ?? "no whole number of"} bytes`;
    // Node decodes unpadded and mispadded base64 leniently; the app's decoder may not (Go's StdEncoding does not).
    if (spec.encode(decoded) !== value) return `${want}; the value is not in that encoding's canonical form${encoding === "base64" ? " (padding?)" : ""}`;
    return undefined;
}

/** A fresh random value in the format. */
export function generateSecret(format: SecretFormat = DEFAULT_LOCAL_SECRET): string {
    return ENCODINGS[format.encoding].encode(crypto.randomBytes(format.bytes));
}

/** A shell command that prints a fresh value in the format, for a fix line. */
export function generateCommand(format: SecretFormat): string {
    return ENCODINGS[format.encoding].how(format.bytes);
}

export function describe(format: SecretFormat): string {
    const names: Record<Encoding, string> = { base64: "standard padded base64", base64url: "unpadded base64url", hex: "hex" };
    return `${names[format.encoding]} of exactly ${format.bytes} bytes`;
}
