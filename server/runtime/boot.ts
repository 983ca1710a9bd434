/**
 * The boot step: the behaviours every runtime starts with, OTP's kernel applications in
 * small. The dispatch core knows no behaviour; the runtime's constructor loads these.
 */
import { application } from './application.ts';
import type { AnyBehaviour } from './behaviour.ts';
import { dynamicSupervisor } from './dynamic-supervisor.ts';
import type { ModuleTable } from './module-table.ts';
import { supervisor } from './supervisor.ts';

export const KERNEL_BEHAVIOURS: readonly AnyBehaviour[] = [supervisor, dynamicSupervisor, application];

/** Make the kernel behaviours current in `modules`, so processes can be spawned by their names. */
export function bootKernel(modules: ModuleTable): void {
  for (const behaviour of KERNEL_BEHAVIOURS) modules.load(behaviour);
}
