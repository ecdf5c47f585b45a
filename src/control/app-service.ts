// Creating and destroying an app, step by step across the store, its git repository, the
// controller and its logs, so that a failed creation leaves nothing behind. The API's routes
// (api/routes/apps.ts) call only this.
import type { RepoManager } from '../git/repos.js';
import { NotFoundError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { Store } from '../store/store.js';
import type { Controller } from './controller.js';
import type { EventBus } from './event-bus.js';
import type { LogStore } from './log-store.js';

export interface AppServiceDeps {
  store: Store;
  repos: RepoManager;
  controller: Controller;
  logs: LogStore;
  events: EventBus;
  now: () => number;
  /** What else goes with an app (its drains, its usage rows…). */
  onAppDestroyed?: (app: string) => Promise<void>;
}

export class AppService {
  constructor(private readonly d: AppServiceDeps) {}

  /** `name` is already checked against the name rule. */
  async create(name: string): Promise<App> {
    const app = await this.d.store.createApp(name, this.d.now());
    try {
      await this.d.repos.create(name);
    } catch (e) {
      await this.d.store.deleteApp(name);
      throw e;
    }
    await this.d.controller.appCreated(app);
    void this.d.events.emit(name, 'app.created', `app ${name} created`);
    return app;
  }

  /** Stops its instances first, then removes its rows, repository and logs. */
  async destroy(name: string): Promise<void> {
    if (!(await this.d.store.getApp(name))) throw new NotFoundError('app', name, 'see `summon apps`');
    await this.d.controller.appRemoved(name);
    await this.d.store.deleteApp(name);
    await this.d.repos.remove(name);
    await this.d.logs.remove(name);
    await this.d.onAppDestroyed?.(name);
    void this.d.events.emit(null, 'app.destroyed', `app ${name} destroyed`, { app: name });
  }
}
