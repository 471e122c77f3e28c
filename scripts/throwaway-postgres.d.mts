export declare const PG_BIN: string;
export interface ThrowawayPostgres { url: string; port: number; tempDir: string; dataDir: string; stop(): void }
export declare function ensurePostgresInstalled(run: (cmd: string, args: string[], options?: object) => number): string | null;
export declare function freePort(): Promise<number>;
export declare function startThrowawayPostgres(options?: { database?: string; settings?: Record<string, string> }): Promise<ThrowawayPostgres>;
