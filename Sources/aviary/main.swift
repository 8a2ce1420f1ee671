// aviary: the administrator's command. All of it lives in AviaryAdmin.
import AviaryAdmin

AviaryCommand.main()
