declare const __FOTA_VERSION__: string;
