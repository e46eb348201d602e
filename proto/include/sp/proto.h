/* Umbrella header of the proto library. */
#ifndef SP_PROTO_H
#define SP_PROTO_H

#include "sp/codec.h"
#include "sp/crypto.h"
#include "sp/error.h"
#include "sp/frame.h"
#include "sp/limits.h"
#include "sp/money.h"
#include "sp/msg.h"
#include "sp/objects.h"

#define SP_VERSION_STRING "0.1.0"

#endif
