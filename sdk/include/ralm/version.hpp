// The SDK's version and its binary interface version.
//
// RALM_SDK_ABI_VERSION changes whenever a change to any header in this folder
// would make a plugin built against the old headers misbehave: a new virtual
// function, a changed struct layout, a changed signature. The plugin manager
// refuses a plugin whose ABI version differs before it calls any C++ code in it.
#pragma once

#define RALM_SDK_VERSION_MAJOR 0
#define RALM_SDK_VERSION_MINOR 1
#define RALM_SDK_VERSION_PATCH 0
#define RALM_SDK_VERSION_STRING "0.1.0"

#define RALM_SDK_ABI_VERSION 7u
