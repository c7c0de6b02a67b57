// Object 26241 fota Agent Configuration: the remotely managed agent settings (protocol/config-object.ts).
// Pure: values come from the ConfigPort; writes become one 'config' action the daemon validates and applies.

import { CONFIG_RESOURCES, CONFIG_REVISION, CONFIG_STATUS, configKeyOf, CONFIG_KEYS, isSecret } from '../../../protocol/config-object.js';
import { ObjectId } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import type { ConfigPort } from '../ports.js';
import { respond, type Action, type LwObject, type ResourceOps } from './lw-object.js';

export function configObject(config: ConfigPort): LwObject {
  const resources: Record<number, ResourceOps> = { [CONFIG_REVISION]: 'R', [CONFIG_STATUS]: 'R' };
  for (const key of CONFIG_KEYS) resources[CONFIG_RESOURCES[key].id] = isSecret(key) ? 'W' : 'RW';
  const patchOf = (values: Record<number, JsonValue>): Action => {
    const patch: Record<string, JsonValue> = {};
    for (const [res, value] of Object.entries(values)) {
      const key = configKeyOf(Number(res));
      if (key === undefined) return respond('4.04', `/26241/0/${res} is not a configuration resource`);
      patch[key] = value;
    }
    if (Object.keys(patch).length === 0) return respond('4.00', 'nothing to write');
    return { kind: 'config', patch };
  };
  return {
    id: ObjectId.AgentConfig,
    resources,
    volatile: new Set(),
    read() {
      const values = config.values();
      const out: Record<number, JsonValue> = { [CONFIG_REVISION]: config.revision(), [CONFIG_STATUS]: config.status() };
      for (const key of CONFIG_KEYS) if (!isSecret(key) && values[key] !== undefined) out[CONFIG_RESOURCES[key].id] = values[key]!;
      return out;
    },
    write: (resource, value) => patchOf({ [resource]: value }),
    writeInstance: (values) => patchOf(values),
    execute: () => respond('4.05', 'nothing to execute in the configuration object'),
  };
}
