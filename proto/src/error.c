#include "sp/error.h"

#include <stddef.h>

static const char *const messages[] = {
#define SP_ERR_MSG(name, msg) msg,
    SP_ERRNO_MAP(SP_ERR_MSG)
#undef SP_ERR_MSG
};

static const char *const names[] = {
#define SP_ERR_NAME(name, msg) #name,
    SP_ERRNO_MAP(SP_ERR_NAME)
#undef SP_ERR_NAME
};

static int slot(int err)
{
  if (err <= SP__E_FIRST || err >= SP__E_LAST)
    return -1;
  return err - SP__E_FIRST - 1;
}

const char *sp_strerror(int err)
{
  if (err == SP_OK)
    return "success";
  int i = slot(err);
  return i < 0 ? "unknown error" : messages[i];
}

const char *sp_errname(int err)
{
  if (err == SP_OK)
    return "OK";
  int i = slot(err);
  return i < 0 ? "UNKNOWN" : names[i];
}
