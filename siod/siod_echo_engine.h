/* The built-in "echo-engine" (siod -a echo-engine): an engine-level
 * application beside the Socket.IO layer, for testing the engine alone. */
#ifndef SIOD_ECHO_ENGINE_H
#define SIOD_ECHO_ENGINE_H

#include "engine/siod_engine.h"

/* Echoes every message back to its session. */
extern const siod_engine_app siod_app_echo_engine;

#endif
