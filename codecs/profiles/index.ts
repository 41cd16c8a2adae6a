export { PROFILES, PROFILE_NAMES, isProfileName, type ConsoleProfile, type ProfileName, type VideoTarget, type AudioTarget, type MaskRegion } from './profiles.js';
export { maskProblems, maskFilters, MAX_MASK_REGIONS, MIN_MASK_SIZE } from './masks.js';
export { transcodeArgs, REALTIME_OUTPUT_FD, PROGRESS_OUTPUT_FD, type TranscodeInput } from './args.js';
