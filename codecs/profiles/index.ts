export { PROFILES, PROFILE_NAMES, isProfileName, type ConsoleProfile, type ProfileName, type VideoTarget, type AudioTarget } from './profiles.js';
export { transcodeArgs, REALTIME_OUTPUT_FD, PROGRESS_OUTPUT_FD, type TranscodeInput } from './args.js';
