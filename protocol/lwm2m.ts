// The LwM2M numbers fota speaks: objects, resources, states, result codes, response codes.
// Pure constants; the only place these numbers live (OMA LwM2M 1.1 Object 5, 1.2 Object 3).

/** Object ids. 26241.. is the LwM2M private range (not registered with OMNA). */
export const ObjectId = {
  Device: 3,
  FirmwareUpdate: 5,
  AgentConfig: 26241,
} as const;
export type ObjectIdValue = (typeof ObjectId)[keyof typeof ObjectId];

/** Object 5 Firmware Update resources (v1.1), plus fota's vendor resources in the private range. */
export const Fw = {
  Package: 0,
  PackageUri: 1,
  Update: 2,
  State: 3,
  UpdateResult: 5,
  PkgName: 6,
  PkgVersion: 7,
  ProtocolSupport: 8,
  DeliveryMethod: 9,
  Cancel: 10,
  LastStateChangeTime: 12,
  /** vendor: download progress, integer percent 0..100 (notified at most once per `progressIntervalMs`) */
  Progress: 26241,
  /** vendor: a readable reason for the last Update Result ("" when none) */
  ResultReason: 26242,
  /** vendor: the stable machine-readable error code behind the last Update Result ("" when none) */
  ResultCode: 26243,
  /** vendor: id of the current or last update attempt (set when a Package URI is accepted) */
  AttemptId: 26244,
  /**
   * vendor: the attempt may install a version below the installed one (Boolean). Written only together with the
   * Package URI, in one write of the instance /5/0 ({"1": uri, "26245": true}); a URI written alone means false.
   * Nothing allows a version below the security floor (26246).
   */
  DowngradeAllowed: 26245,
  /** vendor: the device's security floor: no firmware below this version is installed, not even a factory image ("" = none) */
  SecurityFloor: 26246,
} as const;

/** Object 3 Device resources (v1.2). */
export const Dev = {
  Manufacturer: 0,
  ModelNumber: 1,
  SerialNumber: 2,
  FirmwareVersion: 3,
  Reboot: 4,
  FactoryReset: 5,
  BatteryLevel: 9,
  MemoryFree: 10,
  ErrorCode: 11,
  CurrentTime: 13,
  UtcOffset: 14,
  Timezone: 15,
  SupportedBindings: 16,
  DeviceType: 17,
  HardwareVersion: 18,
  SoftwareVersion: 19,
  MemoryTotal: 21,
  /** vendor: a readable reason for each active Error Code, in the same order ("" instance 0 when none) */
  ErrorReason: 26241,
} as const;

/** Object 3 resource 11 (Error Code) values fota reports; LwM2M 1.2 reserves 16–32 for the device's own. */
export const DeviceError = {
  None: 0,
  /** the agent cannot save its state (a full or read-only state folder): it runs, but a restart may lose changes */
  StateNotSaved: 16,
} as const;

/** Object 5 resource 3 (State). */
export const FwState = { Idle: 0, Downloading: 1, Downloaded: 2, Updating: 3 } as const;
export type FwStateValue = (typeof FwState)[keyof typeof FwState];

/** Object 5 resource 5 (Update Result), LwM2M 1.1 values 0..10. */
export const UpdateResult = {
  Initial: 0,
  Success: 1,
  NotEnoughSpace: 2,
  OutOfRam: 3,
  ConnectionLost: 4,
  IntegrityFailure: 5,
  UnsupportedPackage: 6,
  InvalidUri: 7,
  UpdateFailed: 8,
  UnsupportedProtocol: 9,
  Cancelled: 10,
} as const;
export type UpdateResultValue = (typeof UpdateResult)[keyof typeof UpdateResult];

export const UPDATE_RESULT_TEXT: Record<UpdateResultValue, string> = {
  0: 'initial',
  1: 'firmware updated successfully',
  2: 'not enough flash memory for the new firmware package',
  3: 'out of RAM during download',
  4: 'connection lost during download',
  5: 'integrity check failure',
  6: 'unsupported package type',
  7: 'invalid URI',
  8: 'firmware update failed',
  9: 'unsupported protocol',
  10: 'firmware update cancelled',
};

export const FW_STATE_TEXT: Record<FwStateValue, string> = {
  0: 'Idle',
  1: 'Downloading',
  2: 'Downloaded',
  3: 'Updating',
};

/** Object 5 resource 8 values: 2 = HTTP/1.1, 3 = HTTPS/1.1. */
export const ProtocolSupport = { Http: 2, Https: 3 } as const;
/** Object 5 resource 9: 0 = pull only. */
export const DeliveryMethodPull = 0;

/** Response codes, as in LwM2M over CoAP. */
export const Code = {
  Created: '2.01',
  Deleted: '2.02',
  Changed: '2.04',
  Content: '2.05',
  BadRequest: '4.00',
  Unauthorized: '4.01',
  NotFound: '4.04',
  MethodNotAllowed: '4.05',
  NotAcceptable: '4.06',
  InternalError: '5.00',
  ServiceUnavailable: '5.03',
} as const;
export type CodeValue = (typeof Code)[keyof typeof Code];

export const CODE_TEXT: Record<CodeValue, string> = {
  '2.01': 'Created',
  '2.02': 'Deleted',
  '2.04': 'Changed',
  '2.05': 'Content',
  '4.00': 'Bad Request',
  '4.01': 'Unauthorized',
  '4.04': 'Not Found',
  '4.05': 'Method Not Allowed',
  '4.06': 'Not Acceptable',
  '5.00': 'Internal Server Error',
  '5.03': 'Service Unavailable',
};

export function isSuccess(code: string): boolean {
  return code.startsWith('2.');
}
