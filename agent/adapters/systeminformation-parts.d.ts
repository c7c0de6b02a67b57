// Types for the two systeminformation modules the agent loads one by one (device-info.ts): the package ships
// declarations only for its index, which loads every module (~3 MiB more resident memory).
declare module 'systeminformation/lib/system.js' {
  export const system: typeof import('systeminformation').system;
}
declare module 'systeminformation/lib/battery.js' {
  const battery: typeof import('systeminformation').battery;
  export default battery;
}
