export interface StartServicesOptions {
  postgres?: boolean;
  redis?: boolean;
  /** Where DATABASE_URL / REDIS_URL are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}
export interface Services {
  databaseUrl?: string;
  redisUrl?: string;
  stop(): Promise<void>;
}
export function startServices(options?: StartServicesOptions): Promise<Services>;
